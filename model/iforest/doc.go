// Package iforest is an isolation forest (Liu, Ting and Zhou, "Isolation
// Forest", ICDM 2008) on gonum, with the semantics of scikit-learn's
// IsolationForest, and optionally the extended isolation forest of Hariri,
// Carrasco Kind and Brunner ("Extended Isolation Forest", IEEE TKDE 2021).
//
// Fit grows the forest from a matrix of rows (observations) by columns
// (features); Score and ScoreBatch return anomaly scores in (0, 1], higher
// meaning more anomalous; Save and Load write and read a versioned JSON form
// with the feature schema, training metadata and a checksum. The package does
// no I/O except through the io.Writer and io.Reader given to Save and Load.
//
// # Semantics
//
// With the zero Options, as scikit-learn's defaults:
//
//   - 100 trees; each grows on min(256, rows) rows drawn without replacement.
//   - Height limit ceil(log2(subsample size)).
//   - A node splits on a feature drawn uniformly among those that are not
//     constant on the node's rows, at a threshold drawn uniformly between the
//     feature's minimum and maximum there; rows with values <= the threshold
//     go left. A node becomes a leaf at the height limit, with one row, or when
//     every feature is constant on its rows.
//   - The path length of x in a tree is the depth of the leaf x reaches plus
//     c(size), where size is the number of subsample rows in that leaf and
//     c(n) = 2H(n-1) - 2(n-1)/n with H(i) = ln(i) + 0.5772156649 (see
//     AveragePathLength).
//   - The score is s(x) = 2^(-E[h(x)]/c(subsample size)), E[h(x)] the mean path
//     length over the trees.
//
// # Where this package differs from the paper or from scikit-learn
//
//   - c(2) = 1, as in scikit-learn (the exact average); the paper's formula
//     with the approximation of H would give 0.154.
//   - The paper sends x < p left; scikit-learn and this package send x <= p
//     left, and when the uniform draw of the threshold returns the maximum,
//     use the minimum instead (scikit-learn's RandomSplitter), so that both
//     children are never empty.
//   - A feature counts as constant on a node when max <= min + 1e-7, an
//     absolute tolerance taken from scikit-learn (FEATURE_THRESHOLD). The
//     paper does not say what to do with constant attributes.
//   - scikit-learn converts the data to float32 before fitting and scoring;
//     this package keeps float64. Values that differ only below float32
//     precision can split differently.
//   - The random numbers are not numpy's: each tree has its own PCG generator
//     (math/rand/v2) derived from Options.Seed and the tree's number, so a
//     forest is the same for a seed on any machine and with any GOMAXPROCS,
//     but not the same forest as scikit-learn's for the same seed. Compare
//     the two by the distribution of results over seeds (for example the mean
//     ROC AUC over ten seeds), never score by score.
//   - The subsample is drawn with Floyd's algorithm: the same distribution
//     (every subset of the given size equally likely) as scikit-learn's
//     sample_without_replacement, with different draws.
//   - Score returns s itself. scikit-learn's score_samples returns -s and its
//     decision_function subtracts an offset set by "contamination"; this
//     package has no contamination, offset or predict: the threshold is the
//     caller's policy. Fit records quantiles of the training scores (from at
//     most 2048 training rows, a seeded sample when there are more) to help
//     choose one.
//   - Not supported: max_samples as a fraction, max_features below 1,
//     bootstrap, warm_start, sample weights. MaxSamples above the number of
//     rows is lowered to it, without scikit-learn's warning. At least 2 rows
//     are required (scikit-learn accepts 1).
//   - Trees are grown in parallel on GOMAXPROCS goroutines (scikit-learn's
//     n_jobs defaults to 1); the result does not depend on how many.
//   - NaN and ±Inf are errors, in Fit and in Score (scikit-learn rejects them
//     in both as well, with a ValueError).
//
// The extended forest (Options.Extended) follows Hariri et al. with the full
// extension level (d-1): at each node the normal vector has independent
// standard normal components and the intercept point is uniform in the
// bounding box of the node's rows. It differs from their reference code in
// that x goes left when n·x <= n·p (theirs: (x-p)·n < 0, which differs only for
// points on the hyperplane), and in that a node whose rows are all identical
// becomes a leaf (theirs keeps splitting it, with every row on one side,
// until the height limit). As in theirs, a hyperplane may leave a child empty;
// an empty leaf adds c(0) = 0.
//
// # Speed
//
// An axis-parallel forest is laid out for scoring as one flat slice of 16-byte
// nodes; ScoreBatch walks 64 points through one tree at a time, one level per
// step, with no branch that depends on the data, so that the processor
// overlaps the walks. Score walks one point through 64 trees at a time the same
// way. Both give exactly the same scores. An extended forest is walked the same
// way, each step a dot product with the node's normal vector, at a fraction of
// the speed (about a quarter with 3 features, a ninth with 10).
//
// # Concurrency
//
// A Forest is immutable once Fit or Load returns it, and all its methods are
// safe for concurrent use.
package iforest
