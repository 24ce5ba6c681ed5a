"""Troubleshooting failed moves: the knowledge base, the decoder, ranking, event logs."""
