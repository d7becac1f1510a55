{{ funnel_figures(per_mall=true) }}
