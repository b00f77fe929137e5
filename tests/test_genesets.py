"""Gene sets: GMT, forms, matching, species, resources."""

import warnings

import pandas as pd
import pytest

import scsaliency as ss
from scsaliency.genesets import as_dict, match, read_gmt, species_of


def test_gmt_edge_cases(tmp_path):
    p = tmp_path / "sets.gmt"
    p.write_bytes(b"A\tdesc\tg1\tG2\tg1\t\r\n\r\n\nB\thttp://x\tg3\tg4\r\nC\tonly_desc\n")
    sets = read_gmt(p)
    assert sets == {"A": ["g1", "G2"], "B": ["g3", "g4"]}
    with pytest.raises(FileNotFoundError):
        read_gmt(tmp_path / "missing.gmt")


def test_forms_agree(tmp_path):
    d = {"S1": ["a", "b", "c"], "S2": ["c", "d"]}
    df = pd.DataFrame([(k, g) for k, v in d.items() for g in v], columns=["source", "target"])
    p = tmp_path / "s.gmt"
    p.write_text("".join(f"{k}\tna\t" + "\t".join(v) + "\n" for k, v in d.items()))
    assert as_dict(d) == as_dict(df) == as_dict(p) == as_dict(str(p))
    with pytest.raises(ValueError, match="'source' and 'target'"):
        as_dict(pd.DataFrame({"a": [1]}))
    with pytest.raises(KeyError, match="Unknown gene-set resource"):
        as_dict("reactome_nope")


def test_match_case_insensitive_and_min_size():
    genes = ["CD3D", "Cd3e", "ms4a1", "LYZ", "GNLY", "NKG7"]
    sets = {"t": ["cd3d", "CD3E", "CD3G"], "nk": ["GNLY", "NKG7", "Gzmb"], "x": ["FOO"]}
    with pytest.warns(UserWarning, match=r"left out: x \(0\)"):
        m = match(sets, genes, min_size=2)
    assert m.names == ["t", "nk"]
    assert m.genes["t"] == ["CD3D", "Cd3e"]
    assert m.table.loc["t", "overlap"] == 2 and m.table.loc["t", "set_size"] == 3
    assert m.membership.sum(0).tolist() == [2, 2]
    with pytest.raises(ValueError, match="No gene set shares"):
        match({"x": ["FOO", "BAR"]}, genes, min_size=1)


def test_species_and_resources():
    assert species_of(["CD3D", "MS4A1", "RP11-1.2"]) == "human"
    assert species_of(["Cd3d", "Ms4a1", "Gata1"]) == "mouse"
    human = as_dict("hallmark", ["CD3D", "MS4A1"])
    mouse = as_dict("hallmark", ["Cd3d", "Ms4a1"])
    assert len(human) == len(mouse) == 50
    assert "Actb" in {g for s in mouse.values() for g in s}
    dmap = as_dict("dmap", n_genes=30)
    assert len(dmap) == 38 and max(map(len, dmap.values())) <= 30
    assert all("." not in g for s in dmap.values() for g in s)


def test_gene_sets_of_another_species_warn():
    mouse = pd.Index(["Cd3e", "Cd4", "Cd8a", "Ms4a1", "Nkg7", "Gnly", "Lyz2", "Actb"])
    human_sets = {"T": ["CD3E", "CD4", "CD8A"], "NK": ["NKG7", "GNLY"]}
    with pytest.warns(UserWarning, match="look human.*look mouse.*hallmark_mouse"):
        ss.genesets.match(human_sets, mouse, min_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ss.genesets.match(
            {k: [g.capitalize() for g in v] for k, v in human_sets.items()}, mouse, min_size=2
        )


@pytest.mark.parametrize(
    ("gene_sets", "match"),
    [
        (["CD3E", "CD3D"], r"a list of genes is one set.*\{'my_set': \['CD3E', 'CD3D'\]\}"),
        ({"S": "CD3E"}, r"Gene set 'S' is 'CD3E'.*\{'S': \['CD3E'\]\}"),
        ({"S": None}, "Gene set 'S' is None"),
        (None, "gene_sets is None"),
        (3, "Cannot read gene sets from int"),
    ],
)
def test_gene_sets_that_are_not_sets_get_our_message(gene_sets, match):
    # Issue 27: a list said only "Cannot read gene sets from a list"; {"S": "CD3E"} became
    # the four one-letter genes C, D, 3, E.
    with pytest.raises(TypeError, match=match):
        as_dict(gene_sets)


def test_unknown_keywords_are_refused_with_a_suggestion():
    with pytest.raises(TypeError, match="'n_gene' \\(did you mean 'n_genes'\\?\\)"):
        as_dict("dmap", n_gene=20)
    with pytest.raises(TypeError, match="unexpected keyword"):
        as_dict("hallmark_human", n_genes=20)


def test_repeated_gene_names_are_refused_with_what_to_run():
    """10x data read by symbol has repeated names: a clear error, not pandas' reindexing one."""
    genes = ["CD3E", "CD4", "MALAT1", "MALAT1", "NKG7", "GNLY", "CD8A"]
    with pytest.raises(ValueError, match=r"var_names_make_unique\(\)"):
        ss.genesets.match({"T": ["CD3E", "CD4", "CD8A", "NKG7", "GNLY"]}, genes)
    a = ss.datasets.synthetic(n_cells=50, n_genes=80, n_groups=2, n_decoys=1)
    a.var_names = list(a.var_names[:-1]) + [a.var_names[0]]
    with pytest.raises(ValueError, match=r"var_names_make_unique\(\)"):
        ss.tl.geneset_impact(a, {"S": list(a.var_names[:6])}, progress=False)
