{{ order_figures('day', per_mall=true) }}
