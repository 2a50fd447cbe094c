"""Vector stores behind one port (`base.VectorStore`): Qdrant Edge embedded (default) or a Qdrant
server; `factory.open_store` picks one."""
