import numpy as np
import torch

from concur.knn import fit_knn, neighbours


def test_neighbours_finds_identical_vector_first():
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(50, 8, generator=g)
    idx = neighbours(keys[[3, 17]] * 2.5, keys, 4)  # scale does not matter for cosine
    assert idx.shape == (2, 4)
    assert idx[:, 0].tolist() == [3, 17]


def _clusters(n_per: int, rng):
    centers = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    lab = np.repeat([0, 1], n_per)
    x = centers[lab] + 0.05 * rng.standard_normal((2 * n_per, 4))
    return torch.tensor(x, dtype=torch.float32), lab.astype(float)


def test_k_chosen_on_validation_small_k_for_clustered_labels():
    rng = np.random.default_rng(0)
    x, y = _clusters(30, rng)
    xv, yv = _clusters(20, rng)
    cost = y * 10 + 1
    knn = fit_knn(x, y, cost, xv, yv, yv * 10 + 1, ks=[5, 10, 50])
    # 5 and 10 are both perfect (clusters of 30); ties keep the smallest k
    assert knn.k_cls == 5 and knn.k_cost == 5
    p, c = knn.predict(xv)
    np.testing.assert_allclose(p, yv)
    np.testing.assert_allclose(c, yv * 10 + 1)


def test_k_chosen_on_validation_large_k_for_noise():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.standard_normal((400, 6)), dtype=torch.float32)
    xv = torch.tensor(rng.standard_normal((400, 6)), dtype=torch.float32)
    y, yv = (rng.random(400) < 0.3).astype(float), (rng.random(400) < 0.3).astype(float)
    knn = fit_knn(x, y, rng.random(400), xv, yv, rng.random(400), ks=[1, 200])
    assert knn.k_cls == 200


def test_k_capped_at_training_size():
    x = torch.randn(7, 3)
    knn = fit_knn(x, np.ones(7), np.ones(7), torch.randn(4, 3), np.ones(4), np.ones(4), ks=[5, 100])
    assert max(knn.k_cls, knn.k_cost) <= 7
    p, c = knn.predict(torch.randn(3, 3))
    assert p.shape == (3,) and c.shape == (3,)
