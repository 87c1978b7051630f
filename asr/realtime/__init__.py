"""Realtime transcription sessions (OpenAI's Realtime API, ``intent=transcription``) over WebSocket.

``routes`` accepts the connection, ``session`` runs it, ``config`` and ``events`` are the protocol,
``audio_input`` decodes and buffers the appended audio, ``vad`` is the server VAD.
"""
