"""extract_code: realistic model responses -> the program that gets run."""

import pytest

from verifiers.code import extract_code

ADD_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'
TYPED_PROMPT = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum."""\n'
HELPER_PROMPT = (
    'def encode(s: str) -> str:\n    return s[::-1]\n\n\ndef decode(s: str) -> str:\n    """Inverse of encode."""\n'
)


@pytest.mark.parametrize(
    "response, expected",
    [
        ("Sure!\n```python\ndef f():\n    return 1\n```\nThis returns 1.", "def f():\n    return 1\n"),
        ("```py\nx = 1\n```\nbetter:\n```python\nx = 2\n```", "x = 2\n"),
        ("```\nprint('bare')\n```", "print('bare')\n"),
        ("```Python\ny = 3\n```", "y = 3\n"),
        ("```python\nA = 1\n```\nRun it with:\n```bash\npython a.py\n```", "A = 1\n"),
        ("def g(x):\n    return x * 2\n", "def g(x):\n    return x * 2\n"),
        ("Here it is:\n```python\ndef f():\n    return 2", "def f():\n    return 2\n"),  # cut at max tokens
    ],
)
def test_code_blocks(response, expected):
    assert extract_code(response) == expected


@pytest.mark.parametrize(
    "prompt, response, expected",
    [
        # a raw HumanEval-style completion: the indented body only
        (ADD_PROMPT, "    return a + b\n", ADD_PROMPT + "    return a + b\n"),
        # a body written flush left inside a code block gets indented under the signature
        (ADD_PROMPT, "```python\nreturn a + b\n```", ADD_PROMPT + "    return a + b\n"),
        # the whole function: used as is, after the prompt's imports
        (
            TYPED_PROMPT,
            "```python\ndef total(xs):\n    return sum(xs)\n```",
            "from typing import List\n\n\ndef total(xs):\n    return sum(xs)\n",
        ),
        # helpers that the prompt defines before the entry point are kept
        (
            HELPER_PROMPT,
            "```python\ndef decode(s):\n    return s[::-1]\n```",
            "def encode(s: str) -> str:\n    return s[::-1]\n\n\ndef decode(s):\n    return s[::-1]\n",
        ),
    ],
)
def test_humaneval_joining(prompt, response, expected):
    assert extract_code(response, prompt) == expected


def test_explicit_entry_point_overrides_the_last_def():
    prompt = "def target(x):\n    pass\n\n\ndef helper(y):\n    pass\n"
    program = extract_code("```python\ndef target(x):\n    return x\n```", prompt, entry_point="target")
    assert program == "def target(x):\n    return x\n"
