"""HF transformers models for ``--model`` (``initdsl capture --model examples/hf_models.py:gpt2``).

Small configurations, built the way HF builds them: the constructor runs
the model's own ``post_init`` initialization.
"""

from __future__ import annotations


def gpt2(n_layer: int = 3, n_embd: int = 64):
    """``GPT2LMHeadModel`` with ``n_layer`` blocks of width ``n_embd``."""
    import transformers

    config = transformers.GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=4, vocab_size=1000,
                                     n_positions=128, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)


def bert(num_hidden_layers: int = 2, hidden_size: int = 64):
    """``BertForPreTraining``, small."""
    import transformers

    config = transformers.BertConfig(num_hidden_layers=num_hidden_layers,
                                     hidden_size=hidden_size, num_attention_heads=4,
                                     intermediate_size=4 * hidden_size, vocab_size=1000,
                                     max_position_embeddings=128)
    return transformers.BertForPreTraining(config)
