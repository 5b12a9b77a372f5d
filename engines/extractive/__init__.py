"""The default summarization engine: dialogue-act driven extractive notes (EN, FR, ES)."""
from casenotes.engines.extractive.engine import ExtractiveEngine

__all__ = ["ExtractiveEngine"]
