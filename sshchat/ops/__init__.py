"""Operations: structured logs, metrics and the GC policy."""
