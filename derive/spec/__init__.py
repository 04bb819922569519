"""The spec: TOML → frozen records, with one-line errors naming the field."""
