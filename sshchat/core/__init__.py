"""The chat core: hub, facts, model. No SSH, UI, database, crypto or TOML here."""
