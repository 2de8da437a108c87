"""Configuration of presswatch: the schema, its loader and the shipped default."""
