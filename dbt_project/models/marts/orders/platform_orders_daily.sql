{{ order_figures('day', per_mall=false) }}
