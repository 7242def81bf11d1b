//! Recognizing an interval join: a join condition that bounds the right
//! side's time by the left side's, e.g. `o.ts BETWEEN s.ts - INTERVAL '1'
//! HOUR AND s.ts` or `r.t >= l.t AND r.t < l.t + INTERVAL '10' MINUTE`.
//! With both bounds the join keeps each row only as long as the watermark
//! says a partner can still come.

use datafusion::logical_expr::{Between, BinaryExpr, Operator as BinaryOperator};
use datafusion::scalar::ScalarValue;

use super::*;

/// `right.time - left.time` lies in `lower_ms..=upper_ms`, and the rest of
/// the join condition.
pub(super) struct IntervalBounds {
    /// Position of the left time column in the left input.
    pub(super) left_time: usize,
    /// Position of the right time column in the right input.
    pub(super) right_time: usize,
    /// Smallest `right.time - left.time`, in milliseconds.
    pub(super) lower_ms: i64,
    /// Largest `right.time - left.time`, in milliseconds.
    pub(super) upper_ms: i64,
    /// The conjuncts that are not time bounds.
    pub(super) rest: Option<Expr>,
}

/// One bound on a difference of two times.
enum Bound {
    /// `>= ms`
    AtLeast(i64),
    /// `<= ms`
    AtMost(i64),
}

impl Bound {
    /// The bound on the negated difference.
    fn negated(self) -> Bound {
        match self {
            Bound::AtLeast(ms) => Bound::AtMost(-ms),
            Bound::AtMost(ms) => Bound::AtLeast(-ms),
        }
    }
}

/// A side's time column plus a constant: `column + ms`.
struct Shifted<'a> {
    column: &'a datafusion::common::Column,
    ms: i64,
}

/// Finds time bounds in a join filter whose columns are in `left` and
/// `right`; `None` unless both a lower and an upper bound on the same pair
/// of timestamp columns are there.
pub(super) fn interval_bounds(
    filter: &Expr,
    left: &DFSchema,
    right: &DFSchema,
) -> Option<IntervalBounds> {
    let mut conjuncts: Vec<Expr> = Vec::new();
    for conjunct in datafusion::logical_expr::utils::split_conjunction(filter) {
        match conjunct {
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) => {
                conjuncts.push(Expr::BinaryExpr(BinaryExpr::new(
                    expr.clone(),
                    BinaryOperator::GtEq,
                    low.clone(),
                )));
                conjuncts.push(Expr::BinaryExpr(BinaryExpr::new(
                    expr.clone(),
                    BinaryOperator::LtEq,
                    high.clone(),
                )));
            }
            other => conjuncts.push(other.clone()),
        }
    }
    let timestamp = |schema: &DFSchema, column: &datafusion::common::Column| {
        let index = schema.index_of_column(column).ok()?;
        matches!(
            schema.field(index).data_type(),
            DataType::Timestamp(_, None)
        )
        .then_some(index)
    };
    let mut pair: Option<(usize, usize)> = None;
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    let mut rest = Vec::new();
    for conjunct in conjuncts {
        let bound = time_bound(&conjunct).and_then(|(a, b, bound)| {
            let (found, bound) = match (timestamp(left, a), timestamp(right, b)) {
                (Some(l), Some(r)) => ((l, r), bound),
                _ => ((timestamp(left, b)?, timestamp(right, a)?), bound.negated()),
            };
            (pair.is_none() || pair == Some(found)).then_some((found, bound))
        });
        match bound {
            Some((found, Bound::AtLeast(ms))) => {
                pair = Some(found);
                lower = Some(lower.map_or(ms, |l| l.max(ms)));
            }
            Some((found, Bound::AtMost(ms))) => {
                pair = Some(found);
                upper = Some(upper.map_or(ms, |u| u.min(ms)));
            }
            None => rest.push(conjunct),
        }
    }
    let ((left_time, right_time), lower_ms, upper_ms) = (pair?, lower?, upper?);
    Some(IntervalBounds {
        left_time,
        right_time,
        lower_ms,
        upper_ms,
        rest: rest.into_iter().reduce(Expr::and),
    })
}

/// A comparison `a + x  op  b + y` of two columns shifted by constants,
/// as `(a, b, bound on b - a)`.
fn time_bound(
    expr: &Expr,
) -> Option<(
    &datafusion::common::Column,
    &datafusion::common::Column,
    Bound,
)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let (a, b) = (shifted(left)?, shifted(right)?);
    // a + x < b + y  <=>  b - a > x - y, and so on.
    let difference = a.ms - b.ms;
    let bound = match op {
        BinaryOperator::Lt => Bound::AtLeast(difference + 1),
        BinaryOperator::LtEq => Bound::AtLeast(difference),
        BinaryOperator::Gt => Bound::AtMost(difference - 1),
        BinaryOperator::GtEq => Bound::AtMost(difference),
        _ => return None,
    };
    Some((a.column, b.column, bound))
}

/// `column`, `column + INTERVAL`, `column - INTERVAL`.
fn shifted(expr: &Expr) -> Option<Shifted<'_>> {
    match expr {
        Expr::Column(column) => Some(Shifted { column, ms: 0 }),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let Expr::Column(column) = left.as_ref() else {
                return None;
            };
            let ms = interval_literal_millis(right)?;
            match op {
                BinaryOperator::Plus => Some(Shifted { column, ms }),
                BinaryOperator::Minus => Some(Shifted { column, ms: -ms }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Milliseconds of a day-time interval literal (no months: their length
/// varies).
fn interval_literal_millis(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds))
        }
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        _ => None,
    }
}
