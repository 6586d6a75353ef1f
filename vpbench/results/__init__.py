"""Result records (the single source for tables, plots and checks), the store, and published numbers."""
