import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nndsl.backends.naming import Namer, camel, literal, snake


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BatchNormalization_2", "batch_normalization_2"),
        ("conv1", "conv1"),
        ("y'", "y_prime"),
        ("block[2]", "block_2"),
        ("3x", "v3x"),
        ("", "v"),
        ("TopNError", "top_n_error"),
    ],
)
def test_snake(name, expected):
    assert snake(name) == expected


def test_camel():
    assert camel("basic_block") == "BasicBlock" and camel("BasicBlock") == "BasicBlock" and camel("2x") == "V2x"


def test_namer_avoids_keywords_builtins_and_duplicates():
    n = Namer({"torch", "nn", "F"})
    assert n.take("class") == "class_2"
    assert n.take("input") == "input_2"
    assert n.take("torch") == "torch_2"
    assert n.take("conv") == "conv" and n.take("conv") == "conv_2"


@given(st.text(max_size=20))
def test_any_text_becomes_a_fresh_identifier(text):
    n = Namer()
    a, b = n.take(text), n.take(text)
    assert a.isidentifier() and b.isidentifier() and a != b


@given(
    st.one_of(
        st.text(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.tuples(st.integers(), st.text()),
    )
)
def test_literals_evaluate_back_to_the_value(value):
    assert ast.literal_eval(literal(value)) == value
