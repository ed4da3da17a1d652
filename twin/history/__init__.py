"""Plant history on PostgreSQL: many shifts of many lines behind the Recording interface."""
