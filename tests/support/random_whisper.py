"""Builds a tiny random-weight Whisper model for faster-whisper, fully offline.

Real Whisper weights cannot be downloaded on every machine, yet the faster-whisper engine's
loading, streaming, endpointing and timing paths should run for real in tests and benchmarks.
This writes a CTranslate2 model directory just like a converted real model (model.bin,
config.json, vocabulary.json, tokenizer.json, preprocessor_config.json) from a transformers
Whisper config with small dimensions and random weights. Its transcripts are noise. The
service never uses it; it needs the dev extra (torch, transformers, ctranslate2).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

#: Whisper's special tokens, in its order: <|endoftext|> must be the first (faster-whisper
#: treats every id below it as text) and <|notimestamps|> the last (timestamps follow it).
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)
TIMESTAMP_TOKENS = 1501  # <|0.00|> ... <|30.00|>
N_MELS = 80


def _byte_level_tokenizer():  # type: ignore[no-untyped-def]
    """A byte-level BPE tokenizer with no merges: 256 byte tokens, then the special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer, vocab


def build_random_whisper(
    output_dir: Path, *, d_model: int = 64, layers: int = 2, seed: int = 0
) -> Path:
    """Writes a random-weight English-only Whisper model that faster-whisper can load.

    Args:
        output_dir: Where the CTranslate2 model goes (created; existing files are replaced).
        d_model: Width of the model.
        layers: Encoder and decoder layers each.
        seed: Seed for the random weights.

    Returns:
        ``output_dir``.
    """
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import PreTrainedTokenizerFast, WhisperConfig, WhisperForConditionalGeneration

    tokenizer, vocab = _byte_level_tokenizer()
    end_of_text = vocab["<|endoftext|>"]
    config = WhisperConfig(
        vocab_size=len(vocab) + TIMESTAMP_TOKENS,
        num_mel_bins=N_MELS,
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        max_source_positions=1500,
        max_target_positions=448,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        pad_token_id=end_of_text,
        decoder_start_token_id=vocab["<|startoftranscript|>"],
        suppress_tokens=[],
        begin_suppress_tokens=[end_of_text],
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    with torch.no_grad():
        # The output projection shares the token embeddings. With random weights the special
        # and timestamp tokens (six in seven of the vocabulary) would win most steps and the
        # text would be empty; zero embeddings give them logit 0 while some byte token always
        # scores higher, so decoding yields text (up to max_new_tokens) and the text and
        # word-timing paths run.
        model.model.decoder.embed_tokens.weight[end_of_text:].zero_()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="random-whisper-") as folder:
        model.save_pretrained(folder)
        PreTrainedTokenizerFast(
            tokenizer_object=tokenizer,
            bos_token="<|endoftext|>",
            eos_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            pad_token="<|endoftext|>",
        ).save_pretrained(folder)
        TransformersConverter(folder).convert(str(output_dir), force=True)
    tokenizer.save(str(output_dir / "tokenizer.json"))
    (output_dir / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "feature_size": N_MELS,
                "sampling_rate": 16000,
                "hop_length": 160,
                "chunk_length": 30,
                "n_fft": 400,
            }
        )
    )
    return output_dir
