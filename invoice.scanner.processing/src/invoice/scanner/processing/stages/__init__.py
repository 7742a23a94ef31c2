"""Pipeline stages. Queue name = stage name = module name."""
