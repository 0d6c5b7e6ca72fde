"""Checks shared by the config and world loaders: each names the field that is wrong."""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["MAX_BYTES", "mapping", "parse_yaml"]

# The deepest nesting a file may have. The config's deepest value is four levels down
# (notify.routes[0].chat); a world file's, a few more. PyYAML composes nodes recursively, so a
# file nested thousands deep would otherwise end in RecursionError.
MAX_DEPTH = 32
MAX_BYTES = 16 * 1024 * 1024
_MERGE_TAG = "tag:yaml.org,2002:merge"
_OTHER_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


# Characters no config or world needs, that would make PyYAML read a file differently from
# how an editor shows it: a byte order mark past the start, and the line breaks of YAML 1.1
# that editors show within a line (PyYAML would count lines, and split keys, at them).
_STRAY = (
    ("\ufeff", "a byte order mark (U+FEFF) inside the text"),
    ("\x85", "U+0085 (NEL), which YAML 1.1 reads as a line break"),
    ("\u2028", "U+2028 (LINE SEPARATOR), which YAML 1.1 reads as a line break"),
    ("\u2029", "U+2029 (PARAGRAPH SEPARATOR), which YAML 1.1 reads as a line break"),
)


def mapping(
    value: object, where: str, allowed: tuple[str, ...] | None, error: type[ValueError]
) -> dict[str, Any]:
    """`value` as a mapping whose keys are all `allowed` (None: any); else `error`."""
    if not isinstance(value, dict):
        raise error(f"{where}: expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise error(
                f"{where}: unknown field {unknown[0]!r}; expected one of {', '.join(allowed)}"
            )
    return value


def parse_yaml(
    raw: bytes,
    source: str,
    error: type[ValueError],
    *,
    max_bytes: int = MAX_BYTES,
    strict: bool = False,
) -> Any:
    """The YAML document in the bytes of a file (`source` names it, as "config file PATH");
    `error` names the source, the line and what is wrong. Reading the file is the caller's.

    Always refused: more than `max_bytes`, text that is not UTF-8 (a UTF-8 byte order mark at
    the very start is allowed, as YAML allows it), nesting deeper than MAX_DEPTH, a key given
    twice in one mapping (YAML requires unique keys; PyYAML would keep the last), and values
    PyYAML cannot build (`2026-13-45`, a 5,000-digit integer). `strict` (the config file) also
    refuses aliases (`*name`, so no "billion laughs"), merge keys (`<<`), keys that are not
    strings, and invisible or control characters in any key or value.
    """
    import yaml  # only where a file is read: a function without a config never loads it

    if len(raw) > max_bytes:
        raise error(f"{source} is larger than {max_bytes} bytes")
    text = _decode(raw, source, error)
    loader = None
    try:
        loader = _loader_class()(text)  # PyYAML's reader refuses control characters here
        loader.strict = strict
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node(loader, node, "", strict, source, error, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise error(f"{source} is not valid YAML:{where} {problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise error(
            f"{source} is not valid YAML: line {line} has the control character "
            f"U+{exc.character:04X}"
        ) from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise error(f"{source} is not valid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _decode(raw: bytes, what: str, error: type[ValueError]) -> str:
    for bom, encoding in _OTHER_BOMS:
        if raw.startswith(bom):
            raise error(
                f"{what} is {encoding} (it starts with a byte order mark); save it as UTF-8"
            )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            f"{what} is not UTF-8: line {line} has the byte 0x{raw[exc.start]:02x}"
        ) from None
    for char, name in _STRAY:
        if char in text:
            line = text[: text.index(char)].count("\n") + 1
            raise error(f"{what}: line {line} has {name}")
    return text


@functools.cache
def _loader_class() -> Any:
    """yaml.SafeLoader with a depth limit, no aliases when strict, and the line of a value
    that cannot be built."""
    import yaml

    class Loader(yaml.SafeLoader):
        strict = False
        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            event: Any = self.peek_event()  # type: ignore[no-untyped-call]
            mark: Any = event.start_mark
            if self.strict and isinstance(event, yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "aliases (*name) are not allowed: write the value out",
                    mark,
                )
            if self._depth >= MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except (ValueError, OverflowError) as exc:
                # PyYAML's own message, without Python's advice after a ';'.
                text = node.value if isinstance(node.value, str) else node.tag
                value = text if len(text) <= 40 else text[:40] + "…"
                reason = str(exc).split(";")[0].split(": value has")[0]
                mark: Any = node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"cannot read {value!r}: {reason}", mark
                ) from None

    return Loader


def _check_node(
    loader: Any,
    node: Any,
    where: str,
    strict: bool,
    what: str,
    error: type[ValueError],
    seen: set[int],
) -> None:
    """Duplicate keys at any depth; in strict mode also merge keys, keys that are not
    strings and invisible characters. `where` is the field path (`notify.routes[0]`)."""
    import yaml

    if id(node) in seen:  # an alias (allowed outside strict mode) is checked once
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        bad = next((c for c in node.value if not c.isprintable() and c not in "\n\t"), None)
        if strict and bad is not None:
            raise error(
                f"{what}: line {node.start_mark.line + 1}: {where or 'the file'} has an "
                f"invisible or control character (U+{ord(bad):04X})"
            )
        return
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_node(loader, item, f"{where}[{index}]", strict, what, error, seen)
        return
    first: dict[Any, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _MERGE_TAG:
            if strict:
                raise error(f"{what}: line {line}: merge keys (<<) are not allowed")
            continue
        if strict:
            _check_node(loader, key_node, where or "a key", strict, what, error, seen)
        key = loader.construct_object(key_node, deep=True)
        if strict and not isinstance(key, str):
            raise error(
                f"{what}: line {line}: {where + ': ' if where else ''}the key {key!r:.40} is not "
                "a string"
            )
        name = f"{where}.{key}" if where else str(key)
        try:
            earlier = first.get(key)
        except TypeError:  # an unhashable key: PyYAML refuses it, with its line
            earlier = None
        else:
            first[key] = line
        if earlier == line:
            raise error(f"{what}: {name} is set twice on line {line}")
        if earlier is not None:
            raise error(f"{what}: {name} is set twice, on line {earlier} and line {line}")
        _check_node(loader, value_node, name, strict, what, error, seen)
