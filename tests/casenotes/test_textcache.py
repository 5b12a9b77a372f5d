"""casenotes.textcache: per-text memoisation that stays small whatever the input sizes."""
from casenotes.textcache import per_text


def test_short_texts_are_computed_once_long_texts_every_time():
    calls = []

    @per_text(maxsize=8, max_chars=10)
    def shout(text, suffix="!"):
        calls.append(text)
        return text.upper() + suffix

    assert shout("hi", "?") == shout("hi", "?") == "HI?"
    assert shout("x" * 11) == shout("x" * 11)
    assert calls == ["hi", "x" * 11, "x" * 11]
    assert shout.cache_info().currsize == 1


def test_objects_with_a_text_are_sized_by_it():
    from casenotes.model import Message

    calls = []

    @per_text(max_chars=5)
    def length(message):
        calls.append(message.message_id)
        return len(message.text)

    short = Message("m1", "chat", "customer", "abc", "2026-01-01T00:00:00Z")
    long = Message("m2", "chat", "customer", "abcdefgh", "2026-01-01T00:00:00Z")
    assert length(short) == length(short) == 3
    assert length(long) == length(long) == 8
    assert calls == ["m1", "m2", "m2"]
