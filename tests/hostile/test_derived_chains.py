"""Chains of derived networks (`N2 = N1 with {...}`, `N1 = N0 with {...}`): each derivation is resolved
once from its base's (so a chain of n costs n steps, not n^2/2), each mistake in an override is reported
once (not once per descendant), and a nearer derivation's override of the same parameter replaces the
inherited one instead of leaving it 'unused'."""

from nndsl.compiler import compile_file

BASE = 'network N0 {\n    x = Input(1x4x4, dataset="x")\n    y = x -> a: Affine(3) -> ReLU\n}\n'


def chain(n: int, override: str) -> str:
    return BASE + "".join(f"network N{i} = N{i - 1} with {{ {override.format(i=i)} }}\n" for i in range(1, n))


def test_a_bad_override_in_a_long_chain_is_reported_once_per_override(tmp_path):
    path = tmp_path / "chain.nnd"
    path.write_text(chain(300, "a.n_outmaps = 3"), encoding="utf-8")
    result = compile_file(path)
    lines = [d.span.line for d in result.diagnostics if d.code == "E0301"]
    assert sorted(lines) == list(range(5, 304))  # one per derivation's own override, 299 in all
    assert len(result.diagnostics) < 1000  # was 299 * 300 / 2 E0301s plus as many E0208s


def test_a_nearer_override_replaces_the_inherited_one(tmp_path):
    path = tmp_path / "two.nnd"
    path.write_text(chain(3, "a.out_shape = {i}"), encoding="utf-8")
    result = compile_file(path)
    assert not [d for d in result.diagnostics if d.code == "E0208"], result.diagnostics


def test_derivation_of_an_unknown_or_cyclic_base_is_reported_once(tmp_path):
    path = tmp_path / "bad.nnd"
    path.write_text(
        BASE + "network A = B with { a.out_shape = 2 }\nnetwork B = A with { a.out_shape = 2 }\n"
        "network C = A with { a.out_shape = 2 }\nnetwork D = Nope with { a.out_shape = 2 }\n",
        encoding="utf-8",
    )
    codes = [d.code for d in compile_file(path).diagnostics]
    assert codes.count("E0212") == 1 and codes.count("E0204") == 1, codes
