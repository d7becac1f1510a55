{{ order_figures('month', per_mall=true) }}
