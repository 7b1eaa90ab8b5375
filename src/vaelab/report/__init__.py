"""Figures (matplotlib) and the HTML report (jinja2): they assemble results and recompute nothing."""
