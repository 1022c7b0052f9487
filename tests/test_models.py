"""The GNNs on tiny graphs: forward/backward, LightGCN against PyG's, and the two-genre contract."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys.data.features import track_features
from recsys.data.graph import (bipartite_adjacency, interaction_matrix, normalized_adjacency, side_blocks,
                               symmetric_normalize)
from recsys.data.splits import continuation_split
from recsys.models import GNN_MODELS, build_model, gnn_class
from recsys.models.common import SymmetricAdjacency
from recsys.training import make_config, train_model
from recsys.training.sampling import ContinuationSampler, GraphBuilder, MessageGraphs


def tiny_graph_and_batch(dataset, model_name):
    cls = gnn_class(model_name)
    R = interaction_matrix(dataset)
    builder = GraphBuilder(side_blocks(dataset.tracks), track_features(dataset.tracks), cls.graph_inputs,
                           torch.device("cpu"), dataset.n_playlists, dataset.n_tracks)
    sampler = ContinuationSampler(R, builder, np.random.default_rng(0), holdout=0.3, batch_size=16,
                                  max_seeds=4, negatives=5,
                                  with_pair_labels=getattr(cls, "needs_pair_labels", False))
    model = build_model(model_name, make_config(model_name).to_dict(), num_nodes=builder.num_nodes,
                        num_features=builder.num_features)
    return model, builder, sampler


@pytest.mark.parametrize("model_name", sorted(GNN_MODELS))
def test_forward_and_backward_on_a_tiny_graph(two_genre_dataset, model_name):
    torch.manual_seed(0)
    model, builder, sampler = tiny_graph_and_batch(two_genre_dataset, model_name)
    graph, batch = sampler.sample()
    out = model(graph)
    assert out.shape == (builder.num_nodes, make_config(model_name).embedding_dim)
    assert torch.isfinite(out).all()
    loss = model.loss(graph, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_lightgcn_matches_pyg_values_and_gradients(two_genre_dataset):
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    from recsys.models.common import GraphTensors
    from recsys.models.lightgcn import LightGCN

    ds = two_genre_dataset
    A = normalized_adjacency(interaction_matrix(ds), side_blocks(ds.tracks))
    ours = LightGCN(A.shape[0], embedding_dim=16, num_layers=3)
    theirs = PyGLightGCN(A.shape[0], embedding_dim=16, num_layers=3)
    theirs.embedding.weight.data.copy_(ours.embedding.weight.data)
    coo = sp.triu(A).tocoo()  # PyG normalises an undirected edge list itself
    upper = torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    edge_index = torch.cat([upper, upper.flip(0)], dim=1)

    graph = GraphTensors(ds.n_playlists, ds.n_tracks, A.shape[0], adjacency=SymmetricAdjacency(A))
    mine, reference = ours(graph), theirs.get_embedding(edge_index)
    torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)

    weights = torch.randn_like(mine)  # an arbitrary loss that touches every output entry
    (mine * weights).sum().backward()
    (reference * weights).sum().backward()
    torch.testing.assert_close(ours.embedding.weight.grad, theirs.embedding.weight.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model_name", sorted(GNN_MODELS))
def test_two_genres_seeds_from_one_genre_bring_back_that_genre(two_genre_dataset, model_name):
    ds = two_genre_dataset
    split = continuation_split(ds, n_test=4, n_val=4, n_seed=4, seed=0)
    settings = {"epochs": 6, "steps_per_epoch": 10, "batch_size": 128, "negatives": 8, "max_seeds": 4,
                "embedding_dim": 16}
    result = train_model(ds, split, model_name, settings, progress=False)
    assert result.embeddings.shape == (ds.n_tracks, 16) and result.embeddings.dtype == np.float32
    from recsys.evaluation import EmbeddingScorer, rank

    genre = ds.tracks["genre"].to_numpy()
    scorer = EmbeddingScorer(result.embeddings)
    for query in split.test:
        top = rank(scorer.score([query.seeds]), [query.seeds], 10)[0]
        query_genre = genre[query.seeds[0]]
        assert (genre[top] == query_genre).mean() >= 0.9, (model_name, query_genre, genre[top])


def test_lightgcn_rows_match_pyg_values_and_gradients(two_genre_dataset):
    """The training path embeds only the rows a loss reads (fewer products): same numbers."""
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    from recsys.models.common import GraphTensors
    from recsys.models.lightgcn import LightGCN

    ds = two_genre_dataset
    A = normalized_adjacency(interaction_matrix(ds), side_blocks(ds.tracks))
    coo = A.tocoo()
    edge_index = torch.tensor(np.vstack([coo.row, coo.col]), dtype=torch.long)
    graph = GraphTensors(ds.n_playlists, ds.n_tracks, A.shape[0], adjacency=SymmetricAdjacency(A))
    # repeats, as a batch has; a few rows (the backward's first product over their entries only)
    # and every row twice (the full product)
    few = torch.tensor([3, 0, ds.n_playlists + 5, 3, A.shape[0] - 1])
    for layers, rows in itertools.product((0, 1, 3), (few, torch.arange(A.shape[0]).repeat(2))):
        ours = LightGCN(A.shape[0], embedding_dim=8, num_layers=layers)
        theirs = PyGLightGCN(A.shape[0], embedding_dim=8, num_layers=layers)
        theirs.embedding.weight.data.copy_(ours.embedding.weight.data)
        mine, reference = ours(graph, rows), theirs.get_embedding(edge_index)[rows]
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)
        weights = torch.randn_like(mine)
        (mine * weights).sum().backward()
        (reference * weights).sum().backward()
        torch.testing.assert_close(ours.embedding.weight.grad, theirs.embedding.weight.grad,
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("needs", [("adjacency",), ("adjacency_self",)])
def test_drawn_message_graphs_equal_the_rebuilt_normalised_matrix(two_genre_dataset, needs):
    """A draw masks the prebuilt entries; it must give the matrix that rebuilding and
    normalising the visible interactions with scipy gives."""
    ds = two_genre_dataset
    R = interaction_matrix(ds)
    side = side_blocks(ds.tracks)
    builder = GraphBuilder(side, None, needs, torch.device("cpu"), ds.n_playlists, ds.n_tracks)
    graphs = MessageGraphs(builder, R)
    visible = np.random.default_rng(0).random(R.nnz) >= 0.3
    graph = graphs.draw(visible)
    shown = sp.csr_matrix((np.ones(visible.sum(), np.float32),
                           (graphs.playlists[visible], graphs.tracks[visible])), shape=R.shape)
    A = bipartite_adjacency(shown, side)
    if needs == ("adjacency_self",):
        A = A + sp.identity(A.shape[0], np.float32, "csr")
    expected = symmetric_normalize(A)
    drawn = getattr(graph, needs[0]).matrix
    np.testing.assert_array_equal(drawn.crow_indices().numpy(), expected.indptr)
    np.testing.assert_array_equal(drawn.col_indices().numpy(), expected.indices)
    np.testing.assert_allclose(drawn.values().numpy(), expected.data, rtol=1e-6)
    if needs == ("adjacency",):
        np.testing.assert_array_equal(graph.degree.numpy().ravel(), np.asarray(A.sum(axis=1)).ravel())


def test_symmetric_adjacency_backward_is_the_same_product():
    A = sp.random(30, 30, density=0.2, random_state=0, dtype=np.float32)
    A = (A + A.T).tocsr()
    x = torch.randn(30, 4, requires_grad=True)
    (SymmetricAdjacency(A) @ x).pow(2).sum().backward()
    dense = torch.from_numpy(A.toarray())
    x2 = x.detach().clone().requires_grad_(True)
    (dense @ x2).pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_sage_neighbour_mean_matches_pyg_scatter_mean(two_genre_dataset):
    from torch_geometric.utils import scatter

    ds = two_genre_dataset
    model, builder, sampler = tiny_graph_and_batch(ds, "sage")
    graph = builder.build(interaction_matrix(ds))
    x = torch.randn(graph.num_nodes, 8)
    A = sp.coo_matrix(normalized_adjacency(interaction_matrix(ds), side_blocks(ds.tracks)))
    src, dst = torch.from_numpy(A.col.astype(np.int64)), torch.from_numpy(A.row.astype(np.int64))
    expected = scatter(x[src], dst, dim=0, dim_size=graph.num_nodes, reduce="mean")
    torch.testing.assert_close(graph.neighbour_mean(x), expected, rtol=1e-5, atol=1e-5)


def test_track_features_standardise_audio_popularity_and_year_and_flag_missing_values():
    import pandas as pd

    from recsys.data.dataset import AUDIO_FEATURES

    rng = np.random.default_rng(0)
    tracks = pd.DataFrame({name: rng.uniform(0, 1, 6) for name in AUDIO_FEATURES})
    tracks["tempo"] = [90.0, 120.0, np.nan, 150.0, 100.0, 180.0]  # one track without a tempo
    tracks["popularity"] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    tracks["release_year"] = pd.array([1970, 1980, None, 2000, 2010, 2020], dtype="Int16")
    tracks["genre"] = ["rock", "rock", "pop", "pop", None, "rock"]
    tracks["subgenre"] = "x"  # not a numeric feature
    X = track_features(tracks)
    # 11 audio + popularity + year, a missing flag for tempo and year, a one-hot of 3 genre values.
    assert X.shape == (6, 11 + 2 + 2 + 3) and X.dtype == np.float32 and np.isfinite(X).all()
    tempo = list(AUDIO_FEATURES).index("tempo")
    present = [0, 1, 3, 4, 5]
    assert X[present, tempo].mean() == pytest.approx(0, abs=1e-6)
    assert X[present, tempo].std() == pytest.approx(1, abs=1e-5)
    assert X[2, tempo] == 0 and X[:, tempo + 1].tolist() == [0, 0, 1, 0, 0, 0]  # mean + flag
    popularity = X[:, 12]
    assert popularity.mean() == pytest.approx(0, abs=1e-6) and np.all(np.diff(popularity) > 0)
    # A column without a single value adds nothing.
    assert track_features(tracks.assign(release_year=pd.array([None] * 6, dtype="Int16"))).shape[1] == 16
