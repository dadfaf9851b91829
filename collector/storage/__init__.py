"""Storage behind one small interface (`base.Storage`); `sqlite.SQLiteStorage` is the default."""
