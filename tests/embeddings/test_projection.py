"""PCA: ours equals scikit-learn's, points and explained variance."""
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from llm_playground.embeddings.projection import pca
from llm_playground.errors import PlaygroundError


def test_pca_equals_scikit_learn():
    data = torch.randn(25, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    points, ratio = pca(data)
    reference = PCA(n_components=2, svd_solver="full")
    expected = reference.fit_transform(data.numpy())
    np.testing.assert_allclose(points.numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(ratio.numpy(), reference.explained_variance_ratio_, atol=1e-12)


def test_pca_needs_two_vectors():
    with pytest.raises(PlaygroundError, match="at least 2 vectors"):
        pca(torch.randn(1, 4))
