"""Language models for recognition: a tutor's own, built from its knowledge base and hints.

Engine-neutral text work (words, key terms, the training corpus) lives here; the pocketsphinx
engine turns a corpus into an ARPA model and a pronunciation dictionary, faster-whisper turns
the key terms into hotwords.
"""
