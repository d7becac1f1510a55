{{ funnel_figures(per_mall=false) }}
