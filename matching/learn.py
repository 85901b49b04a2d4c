"""Learning from broker decisions: pair features, a logistic re-ranker, and why it moved a pair.

    labelled groups (one per demand) → features → train() → cross_validate() → Reranker.adjustment()

Every decision on a pair is a label: a confirmed cooperation, a recommendation or an agreed
introduction is a positive (+1), a rejection or a declined introduction a negative (-1). The
engine's other candidates for a decided demand are unlabelled (0): ranked below its positives. The model learns which pair features separate them; its score is the engine's
fused score plus a learned adjustment, so the review zones and the gap threshold keep their meaning.

    >>> model = train(groups)                                        # doctest: +SKIP
    >>> model.adjustment(features).round(3)                          # doctest: +SKIP
    array([ 0.041, -0.012, ...])

Pure numpy, no I/O: service/learning.py reads the labels from the store and the signals from the engine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .evaluate import reciprocal_rank

MODEL_KIND = "linear-logistic"
MODEL_FORMAT = 2  # bump when the stored model's fields change meaning
# The training objective and its L2 penalty. Pointwise logistic regression ranked the unseen half of
# match-dev better than the pairwise ranker in both splits of bench/learning.py (BENCHMARKS.md); the
# pairwise L2 was chosen by cross-validation on each split's seen half (1, 10, 100 tried; 10 best in both).
OBJECTIVES = {"pointwise": 1.0, "pairwise": 10.0}
OBJECTIVE = "pointwise"
L2 = OBJECTIVES[OBJECTIVE]


@dataclass(frozen=True)
class Feature:
    """One pair feature and what a broker reads when it moved a pair: `high` when the pair's value is
    above the training candidates' mean, `low` when below."""
    name: str
    high: str
    low: str


# The reject reasons' categories, found by words in the broker's free-text reason (first match wins).
REASON_CATEGORIES = (
    ("不对症", ("不对症", "不相关", "无关", "不匹配", "解决不了", "不能解决", "方向不同", "答非所问", "偏题", "不对口")),
    ("成熟度不足", ("成熟", "实验室", "小试", "太早", "未经验证", "没有验证")),
    ("费用不符", ("价格", "预算", "费用", "太贵", "成本", "报价", "资金")),
    ("已有方案", ("已有", "已经解决", "自研", "另找", "其他方案", "已合作")),
)
OTHER_REASON = "其他"
DECLINED = "对方婉拒"
REJECT_CATEGORIES = tuple(name for name, _ in REASON_CATEGORIES) + (DECLINED, OTHER_REASON)

# What the records say about a pair, then what earlier decisions on similar pairs say.
PAIR_FEATURES = (
    Feature("score", "融合得分高", "融合得分低"),
    Feature("lexical", "字面关键词重合多", "字面关键词重合少"),
    Feature("cosine", "整体语义更接近", "整体语义较远"),
    Feature("sentence", "有原话语义对得上", "原话语义对不上"),
    Feature("same_cluster", "产业集群一致", "产业集群不同"),
    Feature("same_chain", "产业链一致", "产业链不同"),
    Feature("same_region", "同一区市", "不在同一区市"),
    Feature("same_mode", "合作方式一致", "合作方式不同"),
    Feature("maturity", "成果成熟度高", "成果成熟度低"),
    Feature("budget_fit", "预算足以覆盖参考价格", "预算低于参考价格"),
    Feature("indicators", "技术指标满足需求", "技术指标未达需求"),
)
HISTORY_FEATURES = (
    Feature("platform_confirmed", "同类需求经纪人多次确认此平台", "此平台少有同类需求确认"),
    Feature("similar_confirmed", "同类需求曾确认相近成果", "同类需求未确认过相近成果"),
    *(Feature(f"rejected:{category}", f"同类近似成果曾被驳回：{category}", f"同类近似成果未因「{category}」被驳回")
      for category in REJECT_CATEGORIES),
)
FEATURES = PAIR_FEATURES + HISTORY_FEATURES
FEATURE_NAMES = tuple(feature.name for feature in FEATURES)
ANCHOR = "score"  # the engine's fused score: the learned score is it plus the other features' adjustment
MATURITY_LEVELS = {"实验室阶段": 0.0, "小试": 1 / 3, "中试": 2 / 3, "产业化": 1.0}


def reason_category(reason: str | None) -> str:
    """The category of a broker's reject reason.

        >>> reason_category("成果解决的是焊缝外观，不对症")
        '不对症'
        >>> reason_category("还在实验室阶段")
        '成熟度不足'
        >>> reason_category("企业换了联系人")
        '其他'
    """
    text = reason or ""
    for name, words in REASON_CATEGORIES:
        if any(word in text for word in words):
            return name
    return OTHER_REASON


def agreement(left, right) -> float:
    """+1 when both sides say the same, -1 when they differ, 0 when either is silent."""
    if not left or not right:
        return 0.0
    return 1.0 if left == right else -1.0


def budget_fit(budget, price) -> float:
    """log2(budget / price) clipped to ±2, halved: 0 when either is unknown or they are equal.

        >>> budget_fit(60, 30), budget_fit(10, 40), budget_fit(None, 40)
        (0.5, -1.0, 0.0)
    """
    try:
        budget, price = float(budget), float(price)
    except (TypeError, ValueError):
        return 0.0
    if budget <= 0 or price <= 0:
        return 0.0
    return float(np.clip(math.log2(budget / price), -2.0, 2.0) / 2.0)


def pair_features(demand: dict, supply: dict, signals: dict, indicators: float = 0.0) -> np.ndarray:
    """The record features of one pair, in PAIR_FEATURES order.

    signals: the engine's fused `score`, calibrated `lexical`, raw `cosine` and the best sentence pair's
    `sentence` cosine (0 when there is none). indicators: the demand's targets the supply meets,
    in [-1, 1] (0 when nothing is stated).
    """
    maturity = MATURITY_LEVELS.get(supply.get("maturity") or "")
    return np.array([
        signals["score"], signals["lexical"], signals["cosine"], signals.get("sentence") or 0.0,
        agreement(demand.get("industry_cluster"), supply.get("industry_cluster")),
        agreement(demand.get("industry_chain"), supply.get("industry_chain")),
        agreement(demand.get("region"), supply.get("region")),
        agreement(demand.get("cooperation_mode"), supply.get("cooperation_mode")),
        (maturity - 0.5) * 2 if maturity is not None else 0.0,
        budget_fit(demand.get("budget_wan"), supply.get("price_wan")),
        indicators,
    ], dtype=np.float64)


# --- similarity between records of one list -------------------------------------------------------

@dataclass(frozen=True)
class SimilarityScale:
    """Cosine between two records of one list mapped to [0, 1]: 0 at a typical unrelated pair (the
    median), 1 at the top 0.1 % of pairs, as the engine calibrates demand–supply cosines."""
    floor: float = 0.8
    ceiling: float = 0.95

    @classmethod
    def fit(cls, vectors: np.ndarray, sample: int = 600, seed: int = 0) -> "SimilarityScale":
        if len(vectors) < 3:
            return cls()
        rows = np.random.default_rng(seed).permutation(len(vectors))[:sample]
        cosines = vectors[rows] @ vectors[rows].T
        off_diagonal = cosines[~np.eye(len(rows), dtype=bool)]
        floor, ceiling = float(np.median(off_diagonal)), float(np.quantile(off_diagonal, 0.999))
        return cls(floor, ceiling) if ceiling - floor >= 0.02 else cls()

    def __call__(self, cosines: np.ndarray) -> np.ndarray:
        return np.clip((cosines - self.floor) / (self.ceiling - self.floor), 0.0, 1.0)


@dataclass
class Memory:
    """The decided pairs the history features look up, one row each."""
    demand_ids: np.ndarray            # (m,) str
    labels: np.ndarray                # (m,) +1 / -1
    categories: list[str]             # reject category of each negative ("" for positives)
    platforms: list[str]              # the supply's platform
    demand_vectors: np.ndarray        # (m, dim)
    supply_vectors: np.ndarray        # (m, dim)

    @classmethod
    def empty(cls, dim: int) -> "Memory":
        return cls(np.array([], dtype=object), np.zeros(0), [], [], np.zeros((0, dim), np.float32),
                   np.zeros((0, dim), np.float32))

    def __len__(self) -> int:
        return len(self.labels)

    def without(self, demand_ids: set[str]) -> "Memory":
        """The memory with every decision on these demands left out."""
        keep = np.array([demand_id not in demand_ids for demand_id in self.demand_ids], dtype=bool)
        return Memory(self.demand_ids[keep], self.labels[keep], [c for c, k in zip(self.categories, keep) if k],
                      [p for p, k in zip(self.platforms, keep) if k], self.demand_vectors[keep],
                      self.supply_vectors[keep])


def history_features(memory: Memory, demand_id: str, demand_vector: np.ndarray, supply_vectors: np.ndarray,
                     platforms: list[str], demand_scale: SimilarityScale,
                     supply_scale: SimilarityScale) -> np.ndarray:
    """(n, len(HISTORY_FEATURES)): what decisions on similar pairs say about each candidate of one demand.

    A decided pair (d', s') speaks for the candidate (d, s) as much as both are alike: min(sim(d, d'),
    sim(s, s')). The demand's own decisions are left out, so a pair is judged as for an unseen demand,
    the same way in training and in use.
    """
    n = len(supply_vectors)
    out = np.zeros((n, len(HISTORY_FEATURES)))
    keep = memory.demand_ids != demand_id if len(memory) else np.zeros(0, dtype=bool)
    if n == 0 or not keep.any():
        return out
    labels = memory.labels[keep]
    demand_sim = demand_scale(memory.demand_vectors[keep] @ demand_vector.ravel())      # (m,)
    supply_sim = supply_scale(supply_vectors @ memory.supply_vectors[keep].T)             # (n, m)
    pair_sim = np.minimum(demand_sim[None, :], supply_sim)
    positive = labels > 0
    remembered = np.array(memory.platforms, dtype=object)[keep]
    same_platform = (np.array(platforms, dtype=object)[:, None] == remembered[None, :]) & (remembered != "")[None, :]
    # "Many times": the similar demands' confirmations of this platform add up, to at most 1.
    out[:, 0] = np.minimum(1.0, (demand_sim[None, :] * (same_platform & positive[None, :])).sum(axis=1) / 2)
    out[:, 1] = np.where(positive[None, :], pair_sim, 0.0).max(axis=1)
    categories = np.array(memory.categories, dtype=object)[keep]
    for column, category in enumerate(REJECT_CATEGORIES, start=2):
        chosen = (labels < 0) & (categories == category)
        if chosen.any():
            out[:, column] = pair_sim[:, chosen].max(axis=1)
    return out


# --- training data ------------------------------------------------------------------------------

@dataclass
class Group:
    """One demand's candidates: the engine's ranking plus every supply decided for it."""
    demand_id: str
    demand_vector: np.ndarray
    supply_ids: list[str]
    supply_vectors: np.ndarray        # (n, dim)
    platforms: list[str]
    pair: np.ndarray                  # (n, len(PAIR_FEATURES))
    labels: np.ndarray                # (n,) +1 / 0 / -1
    categories: list[str] = field(default_factory=list)   # reject category per candidate ("" when none)

    def features(self, memory: Memory, demand_scale: SimilarityScale, supply_scale: SimilarityScale) -> np.ndarray:
        history = history_features(memory, self.demand_id, self.demand_vector, self.supply_vectors,
                                   self.platforms, demand_scale, supply_scale)
        return np.hstack([self.pair, history])


def memory_of(groups: list[Group]) -> Memory:
    """Every labelled candidate of these groups as a decided pair."""
    rows = [(group, index) for group in groups for index in np.flatnonzero(group.labels)]
    if not rows:
        dim = groups[0].demand_vector.size if groups else 0
        return Memory.empty(dim)
    return Memory(
        demand_ids=np.array([group.demand_id for group, _ in rows], dtype=object),
        labels=np.array([group.labels[index] for group, index in rows], dtype=float),
        categories=[group.categories[index] if group.categories else "" for group, index in rows],
        platforms=[group.platforms[index] for group, index in rows],
        demand_vectors=np.stack([group.demand_vector.ravel() for group, _ in rows]),
        supply_vectors=np.stack([group.supply_vectors[index] for group, index in rows]),
    )


def ordered_pairs(labels: np.ndarray) -> np.ndarray:
    """(i, j) index pairs of one group where i should rank above j: a positive above every other candidate.

    An unlabelled candidate is not taken to be better than a rejected one: brokers judge the top of the
    ranking, so "unlabelled above rejected" would teach the model that a lower fused score is better.

        >>> ordered_pairs(np.array([1.0, 0.0, -1.0])).tolist()
        [[0, 1], [0, 2]]
    """
    higher = (labels[:, None] > labels[None, :]) & (labels[:, None] > 0)
    return np.argwhere(higher)


# --- the model ----------------------------------------------------------------------------------

@dataclass
class Reranker:
    """A linear ranking function over FEATURES; stored as plain JSON (to_dict / from_dict)."""
    weights: np.ndarray               # one per feature, in raw feature units
    centre: np.ndarray                # the training candidates' mean of each feature
    demand_scale: SimilarityScale = SimilarityScale()
    supply_scale: SimilarityScale = SimilarityScale()
    l2: float = L2
    # (mean, spread) of the fused score and of the key over the training candidates: the learned score
    # is the key put on the fused score's scale, so the review zones and the gap threshold still apply.
    score_scale: tuple[float, float] = (0.0, 1.0)
    key_scale: tuple[float, float] = (0.0, 1.0)

    def key(self, features: np.ndarray) -> np.ndarray:
        """The learned ordering: higher ranks first."""
        return features @ self.weights

    @property
    def _per_key(self) -> float:
        return self.score_scale[1] / self.key_scale[1]

    def learned_score(self, features: np.ndarray) -> np.ndarray:
        """The key on the fused score's scale (same mean and spread over the training candidates)."""
        return self.score_scale[0] + (self.key(features) - self.key_scale[0]) * self._per_key

    @property
    def usable(self) -> bool:
        """The learned score is expressed in fused-score units, which needs the fused score to count up."""
        return float(self.weights[FEATURE_NAMES.index(ANCHOR)]) > 0

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """(n, F): how far each feature moved the learned score from a typical pair's, in fused-score
        units (the fused score's own term is 0: it is what the pair starts from)."""
        scaled = self.weights * self._per_key
        scaled[FEATURE_NAMES.index(ANCHOR)] = 0.0
        return (features - self.centre) * scaled

    def adjustment(self, features: np.ndarray) -> np.ndarray:
        """What the learned ranking adds to each pair's fused score."""
        return self.learned_score(features) - features[:, FEATURE_NAMES.index(ANCHOR)]

    def to_dict(self) -> dict:
        return {"kind": MODEL_KIND, "format": MODEL_FORMAT, "features": list(FEATURE_NAMES),
                "weights": [round(float(w), 6) for w in self.weights],
                "centre": [round(float(c), 6) for c in self.centre],
                "demand_scale": [self.demand_scale.floor, self.demand_scale.ceiling],
                "supply_scale": [self.supply_scale.floor, self.supply_scale.ceiling], "l2": self.l2,
                "score_scale": list(self.score_scale), "key_scale": list(self.key_scale)}

    @classmethod
    def from_dict(cls, stored: dict) -> "Reranker":
        """The stored model; ValueError when it was made for other features."""
        if stored.get("kind") != MODEL_KIND or stored.get("format") != MODEL_FORMAT \
                or tuple(stored.get("features") or ()) != FEATURE_NAMES:
            raise ValueError("学得的排序模型与当前特征不一致，需要重新学习")
        try:
            return cls(np.array(stored["weights"], dtype=float), np.array(stored["centre"], dtype=float),
                       SimilarityScale(*stored["demand_scale"]), SimilarityScale(*stored["supply_scale"]),
                       float(stored["l2"]), tuple(stored["score_scale"]), tuple(stored["key_scale"]))
        except (KeyError, TypeError) as error:
            raise ValueError("学得的排序模型不完整，需要重新学习") from error


def group_features(groups: list[Group], memory: Memory, demand_scale: SimilarityScale,
                   supply_scale: SimilarityScale) -> list[np.ndarray]:
    return [group.features(memory, demand_scale, supply_scale) for group in groups]


def train(groups: list[Group], l2: float | None = None, iterations: int = 30, invert: bool = False,
          objective: str = OBJECTIVE) -> Reranker:
    """Fit a linear ranking function over FEATURES by Newton's method (features standardised for the
    fit, so the L2 penalty treats them alike).

    objective "pointwise": logistic regression of "a positive" against every other candidate;
    "pairwise": RankNet with a linear score over ordered pairs (a positive above another candidate),
    each demand weighing the same. invert=True learns every label the wrong way round: a deliberately
    bad model, for testing that the adoption rule refuses it.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"未知的学习目标「{objective}」，可选：{'、'.join(OBJECTIVES)}")
    l2 = OBJECTIVES[objective] if l2 is None else l2
    vectors = [group.demand_vector.ravel() for group in groups]
    demand_scale = SimilarityScale.fit(np.stack(vectors)) if vectors else SimilarityScale()
    supplies = np.vstack([group.supply_vectors for group in groups]) if groups else np.zeros((0, 1))
    supply_scale = SimilarityScale.fit(supplies) if len(supplies) else SimilarityScale()
    features = group_features(groups, memory_of(groups), demand_scale, supply_scale)
    stacked = np.vstack(features)
    centre, spread = stacked.mean(axis=0), stacked.std(axis=0)
    spread[spread < 1e-9] = 1.0
    if not any((group.labels > 0).any() for group in groups):
        raise ValueError("没有可以学习的正例：至少要有一个推荐或确认合作")
    fit = _fit_pointwise if objective == "pointwise" else _fit_pairwise
    weights = fit(groups, features, centre, spread, l2, iterations, invert) / spread
    keys, scores = stacked @ weights, stacked[:, FEATURE_NAMES.index(ANCHOR)]
    return Reranker(weights, centre, demand_scale, supply_scale, l2,
                    (float(scores.mean()), float(scores.std()) or 1.0), (float(keys.mean()), float(keys.std()) or 1.0))


def _newton(loss_parts, size: int, iterations: int) -> np.ndarray:
    """Minimise a convex loss given as w → (gradient, hessian)."""
    w = np.zeros(size)
    for _ in range(iterations):
        gradient, hessian = loss_parts(w)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _fit_pointwise(groups, features, centre, spread, l2, iterations, invert) -> np.ndarray:
    z = np.hstack([(np.vstack(features) - centre) / spread, np.ones((sum(map(len, features)), 1))])
    y = np.concatenate([(group.labels > 0).astype(float) for group in groups])
    y = 1.0 - y if invert else y

    def parts(w):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (p - y) / len(y) + l2 * w / len(y)
        hessian = (z * (p * (1 - p))[:, None]).T @ z / len(y) + l2 * np.eye(len(w)) / len(y)
        return gradient, hessian
    return _newton(parts, z.shape[1], iterations)[:-1]  # the intercept does not change an order


def _fit_pairwise(groups, features, centre, spread, l2, iterations, invert) -> np.ndarray:
    differences, weights = [], []
    for group, x in zip(groups, features):
        pairs = ordered_pairs(group.labels)
        if len(pairs):
            above, below = (pairs[:, 1], pairs[:, 0]) if invert else (pairs[:, 0], pairs[:, 1])
            differences.append((x[above] - x[below]) / spread)
            weights.append(np.full(len(pairs), 1.0 / len(pairs)))
    d, sample_weight = np.vstack(differences), np.concatenate(weights)
    sample_weight = sample_weight / sample_weight.sum()

    def parts(w):
        p = 1.0 / (1.0 + np.exp(d @ w))                 # σ(−margin): how wrong each pair is
        gradient = -(d * (sample_weight * p)[:, None]).sum(axis=0) + l2 * w / len(groups)
        hessian = (d * (sample_weight * p * (1 - p))[:, None]).T @ d + (l2 / len(groups)) * np.eye(d.shape[1])
        return gradient, hessian
    return _newton(parts, d.shape[1], iterations)


# --- measuring ------------------------------------------------------------------------------------

def ranking_figures(groups: list[Group], keys: list[np.ndarray]) -> dict:
    """MRR and R@1 of the first positive over groups that have one; share of ordered pairs (a positive
    above another candidate) the keys order correctly, each group weighing the same."""
    reciprocal, hits, ordered = [], [], []
    for group, key in zip(groups, keys):
        order = [group.supply_ids[i] for i in np.lexsort((np.array(group.supply_ids), -key))]
        positives = {group.supply_ids[i]: 1.0 for i in np.flatnonzero(group.labels > 0)}
        if positives:
            rr = reciprocal_rank(order, positives)
            reciprocal.append(rr)
            hits.append(1.0 if rr == 1.0 else 0.0)
        pairs = ordered_pairs(group.labels)
        if len(pairs):
            ordered.append(float(np.mean(key[pairs[:, 0]] > key[pairs[:, 1]])))
    mean = lambda values: round(float(np.mean(values)), 4) if values else None  # noqa: E731
    return {"demands": len(groups), "with_positive": len(reciprocal), "mrr": mean(reciprocal),
            "recall@1": mean(hits), "pair_accuracy": mean(ordered)}


def folds_of(groups: list[Group], folds: int) -> list[list[int]]:
    """Group indices split into `folds` folds by demand id (stable across runs)."""
    order = sorted(range(len(groups)), key=lambda index: groups[index].demand_id)
    return [order[start::folds] for start in range(folds)]


def cross_validate(groups: list[Group], folds: int = 5, l2: float | None = None, invert: bool = False,
                   objective: str = OBJECTIVE) -> dict:
    """Held-back decisions, grouped by demand: each fold's demands are ranked by a model trained on the
    other folds, with a memory that holds only the other folds' decisions. Returns the untrained and
    the learned figures over every held-out demand."""
    folds = max(2, min(folds, len(groups)))
    baseline_keys, learned_keys, held_order = [], [], []
    anchor = FEATURE_NAMES.index(ANCHOR)
    for held in folds_of(groups, folds):
        held_ids = {groups[index].demand_id for index in held}
        training = [group for index, group in enumerate(groups) if index not in held]
        model = train(training, l2, invert=invert, objective=objective)
        memory = memory_of(training)
        for index in held:
            x = groups[index].features(memory.without(held_ids), model.demand_scale, model.supply_scale)
            baseline_keys.append(x[:, anchor])
            learned_keys.append(model.key(x))
            held_order.append(groups[index])
    return {"folds": folds, "untrained": ranking_figures(held_order, baseline_keys),
            "learned": ranking_figures(held_order, learned_keys)}


def beats(learned: dict, untrained: dict) -> tuple[bool, str]:
    """The cross-validated rule: better MRR where there are positives (else better pair accuracy),
    and neither figure lower. Returns (verdict, why in Chinese)."""
    def value(figures, name):
        return figures.get(name) if figures.get(name) is not None else None
    mrr_new, mrr_old = value(learned, "mrr"), value(untrained, "mrr")
    acc_new, acc_old = value(learned, "pair_accuracy"), value(untrained, "pair_accuracy")
    if acc_new is None:
        return False, "没有可比较的决定"
    if mrr_new is not None and mrr_new < mrr_old:
        return False, f"留出决定上 MRR 下降（{mrr_old:.3f} → {mrr_new:.3f}）"
    if acc_new < acc_old:
        return False, f"留出决定上排序正确率下降（{acc_old:.3f} → {acc_new:.3f}）"
    if mrr_new is not None and mrr_new > mrr_old:
        return True, f"留出决定上 MRR 提高（{mrr_old:.3f} → {mrr_new:.3f}）"
    if mrr_new is None and acc_new > acc_old:
        return True, f"留出决定上排序正确率提高（{acc_old:.3f} → {acc_new:.3f}）"
    return False, f"留出决定上没有改进（MRR {mrr_old:.3f} → {mrr_new:.3f}）" if mrr_new is not None else \
        f"留出决定上没有改进（排序正确率 {acc_old:.3f}）"


# --- explaining --------------------------------------------------------------------------------------

SHOWN_FACTORS = 3
SHOWN_FROM = 0.005  # adjustments smaller than this (in fused-score units) are not worth a line


def factors(model: Reranker, features: np.ndarray) -> list[dict]:
    """The learned factors that moved one pair most, biggest first: {feature, text, effect}.

        >>> factors(model, x)                                               # doctest: +SKIP
        [{'feature': 'rejected:不对症', 'text': '同类近似成果曾被驳回：不对症', 'effect': -0.043}]
    """
    shares = model.contributions(features.reshape(1, -1))[0]
    named = []
    for index in np.argsort(-np.abs(shares))[:SHOWN_FACTORS]:
        if abs(shares[index]) < SHOWN_FROM:
            break
        feature = FEATURES[index]
        text = feature.high if features[index] > model.centre[index] else feature.low
        named.append({"feature": feature.name, "text": text, "effect": round(float(shares[index]), 4)})
    return named
