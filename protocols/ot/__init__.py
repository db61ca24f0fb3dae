"""Oblivious transfer: base OT, IKNP extension, Ferret-style silent COT, and OTs derived from COT."""
