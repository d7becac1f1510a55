{{ order_figures('month', per_mall=false) }}
