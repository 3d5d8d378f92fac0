/*
 * sql_plan.c -- binding libpg_query's parse tree into a plan (sql_plan.h).
 *
 * The parse tree comes as protobuf-c messages (pg_query_parse_protobuf,
 * unpacked): a C struct per node, walked here directly. Binding is one
 * recursive function per tree, `bind`, in one of two scopes: the scan
 * (columns of the dataset; aggregate calls allowed where the clause
 * allows them, bound as OP_AGG nodes) and, for a grouped query, a second
 * pass that rewrites every select-list, HAVING and ORDER BY tree over the
 * aggregation's output: a subtree equal to a GROUP BY key becomes that key's
 * column, an OP_AGG the aggregate's column, and a column left over is the
 * error PostgreSQL gives ("must appear in the GROUP BY clause").
 *
 * Types follow DuckDB's rules for the subset: integers are bigint, mixed
 * arithmetic is double, `/` is double, a string literal compared with a
 * typed value takes that value's type, a date meets a timestamp as a
 * timestamp. Constant subtrees are folded by evaluating them once.
 */
#include "sql_plan.h"

#include "coerce.h"

#include <math.h>
#include <pg_query.h>
#include <pg_query.pb-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef PgQuery__Node node_t;

typedef struct binder {
    sql_plan_t *p;
    const ursa_schema_t *schema;
    size_t nfields;
    ursa_err_t *err;
    int64_t now_us;
    bool aggs_allowed;
    const char *clause; /* for messages: "WHERE", "GROUP BY" ... */
} binder_t;

static int bad(binder_t *b, const char *fmt, ...) URSA_PRINTF(2, 3);
static int bad(binder_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err->msg, sizeof(b->err->msg), fmt, ap);
    va_end(ap);
    b->err->code = URSA_EINVAL;
    return URSA_EINVAL;
}

static int oom(binder_t *b)
{
    return ursa_err_set(b->err, URSA_ENOMEM, "out of memory");
}

exec_type_t sql_exec_type(ursa_type_t t)
{
    switch (t) {
    case URSA_TYPE_BOOL:
        return EXEC_BOOL;
    case URSA_TYPE_INT64:
    case URSA_TYPE_INT8:
    case URSA_TYPE_INT16:
    case URSA_TYPE_INT32:
    case URSA_TYPE_UINT8:
    case URSA_TYPE_UINT16:
    case URSA_TYPE_UINT32:
    case URSA_TYPE_UINT64:
        return EXEC_INT64;
    case URSA_TYPE_FLOAT64:
    case URSA_TYPE_FLOAT32:
    case URSA_TYPE_DECIMAL:
        return EXEC_FLOAT64;
    case URSA_TYPE_TIMESTAMP:
        return EXEC_TIMESTAMP;
    case URSA_TYPE_DATE:
        return EXEC_DATE;
    default:
        return EXEC_STRING;
    }
}

/* ---- small tree builders ---- */

static exec_expr_t *mk(exec_op_t op, exec_type_t t)
{
    return exec_expr_new(op, t);
}

static int mk1(binder_t *b, exec_op_t op, exec_type_t t, exec_expr_t *a, exec_expr_t **out)
{
    exec_expr_t *e = mk(op, t);
    if (!e) {
        exec_expr_free(a);
        return oom(b);
    }
    if (exec_expr_add(e, a)) {
        exec_expr_free(e);
        return oom(b);
    }
    *out = e;
    return URSA_OK;
}

static int mk2(binder_t *b, exec_op_t op, exec_type_t t, exec_expr_t *x, exec_expr_t *y, exec_expr_t **out)
{
    exec_expr_t *e = mk(op, t);
    if (!e) {
        exec_expr_free(x), exec_expr_free(y);
        return oom(b);
    }
    if (exec_expr_add(e, x)) {
        exec_expr_free(e), exec_expr_free(y);
        return oom(b);
    }
    if (exec_expr_add(e, y)) {
        exec_expr_free(e);
        return oom(b);
    }
    *out = e;
    return URSA_OK;
}

static int fold(binder_t *b, exec_expr_t **e);

/* Wraps *e in a cast to t (a constant is cast at once). */
static int cast_to(binder_t *b, exec_expr_t **e, exec_type_t t)
{
    if ((*e)->type == t) return URSA_OK;
    int rc = mk1(b, OP_CAST, t, *e, e);
    if (rc == URSA_OK && (rc = fold(b, e))) {
        exec_expr_free(*e);
        *e = NULL;
    }
    return rc;
}

static exec_expr_t *const_str(const char *s, size_t n)
{
    exec_expr_t *e = mk(OP_CONST, EXEC_STRING);
    char *p = ursa_malloc(n + 1);
    if (!e || !p) {
        ursa_free(p);
        exec_expr_free(e);
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    e->value.type = EXEC_STRING;
    e->value.v.s = (exec_str_t){p, n};
    return e;
}

static bool is_numeric(exec_type_t t)
{
    return t == EXEC_INT64 || t == EXEC_FLOAT64;
}

/* Brings x and y to one type for a comparison, IN, COALESCE, CASE. */
static int unify(binder_t *b, exec_expr_t **x, exec_expr_t **y, const char *what)
{
    exec_type_t a = (*x)->type, c = (*y)->type;
    if (a == c) return URSA_OK;
    if (a == EXEC_NULL) return cast_to(b, x, c);
    if (c == EXEC_NULL) return cast_to(b, y, a);
    if (is_numeric(a) && is_numeric(c)) return a == EXEC_FLOAT64 ? cast_to(b, y, a) : cast_to(b, x, c);
    if (a == EXEC_STRING && (*x)->op == OP_CONST) return cast_to(b, x, c);
    if (c == EXEC_STRING && (*y)->op == OP_CONST) return cast_to(b, y, a);
    if ((a == EXEC_DATE && c == EXEC_TIMESTAMP) || (a == EXEC_TIMESTAMP && c == EXEC_DATE))
        return a == EXEC_DATE ? cast_to(b, x, c) : cast_to(b, y, a);
    return bad(b, "%s: cannot compare %s with %s", what, exec_type_name(a), exec_type_name(c));
}

/* The type several values share (CASE branches, COALESCE arguments):
 * bigint and double meet as double, date and timestamp as timestamp, a NULL
 * or a string literal takes the others' type. Then each is cast to it. */
static int common_type(binder_t *b, exec_expr_t **v, size_t n, const char *what, exec_type_t *out)
{
    exec_type_t t = EXEC_NULL;
    bool literal_only = true; /* t so far from string literals alone */
    for (size_t i = 0; i < n; i++) {
        exec_type_t vt = v[i]->type;
        bool lit = vt == EXEC_STRING && v[i]->op == OP_CONST;
        if (vt == EXEC_NULL || (lit && t != EXEC_NULL)) continue;
        if (t == EXEC_NULL || (literal_only && !lit))
            t = vt, literal_only = lit;
        else if (is_numeric(t) && is_numeric(vt))
            t = t == EXEC_FLOAT64 || vt == EXEC_FLOAT64 ? EXEC_FLOAT64 : EXEC_INT64;
        else if ((t == EXEC_DATE || t == EXEC_TIMESTAMP) && (vt == EXEC_DATE || vt == EXEC_TIMESTAMP))
            t = t == vt ? t : EXEC_TIMESTAMP;
        else if (t != vt)
            return bad(b, "%s: values of different types, %s and %s", what, exec_type_name(t),
                       exec_type_name(vt));
    }
    for (size_t i = 0; i < n; i++) {
        int rc = cast_to(b, &v[i], t);
        if (rc) return rc;
    }
    *out = t;
    return URSA_OK;
}

/* ---- folding ---- */

static int fold(binder_t *b, exec_expr_t **e)
{
    exec_expr_t *x = *e;
    if (x->op == OP_CONST || !exec_expr_is_const(x)) return URSA_OK;
    exec_arena_t a;
    exec_arena_init(&a, NULL);
    exec_ctx_t cx = {&a, b->err};
    exec_batch_t none = {0};
    exec_vec_t v;
    int rc = exec_eval(&cx, x, &none, NULL, 1, &v);
    if (rc) {
        exec_arena_free(&a);
        return rc == URSA_ELIMIT ? oom(b) : rc;
    }
    exec_expr_t *c = mk(OP_CONST, x->type);
    if (!c) {
        exec_arena_free(&a);
        return oom(b);
    }
    c->value.type = x->type;
    c->value.null = x->type == EXEC_NULL || exec_is_null(&v, 0);
    if (!c->value.null) {
        switch (x->type) {
        case EXEC_BOOL:
            c->value.v.i = v.v.b[0];
            break;
        case EXEC_FLOAT64:
            c->value.v.f = v.v.f[0];
            break;
        case EXEC_INTERVAL:
            c->value.v.iv = v.v.iv[0];
            break;
        case EXEC_STRING: {
            char *p = ursa_malloc(v.v.s[0].n + 1);
            if (!p) {
                exec_expr_free(c);
                exec_arena_free(&a);
                return oom(b);
            }
            memcpy(p, v.v.s[0].p, v.v.s[0].n);
            p[v.v.s[0].n] = '\0';
            c->value.v.s = (exec_str_t){p, v.v.s[0].n};
            break;
        }
        default:
            c->value.v.i = v.v.i[0];
        }
    } else if (x->type == EXEC_STRING) {
        c->value.v.s = (exec_str_t){NULL, 0};
        c->value.type = EXEC_STRING;
        char *p = ursa_malloc(1);
        if (!p) {
            exec_expr_free(c);
            exec_arena_free(&a);
            return oom(b);
        }
        p[0] = '\0';
        c->value.v.s.p = p;
    }
    exec_arena_free(&a);
    exec_expr_free(x);
    *e = c;
    return URSA_OK;
}

/* ---- names ---- */

static const char *str_of(const node_t *n)
{
    return n && n->node_case == PG_QUERY__NODE__NODE_STRING ? n->string->sval : NULL;
}

/* The last part of a qualified function or type name. */
static const char *last_name(node_t **names, size_t n)
{
    return n ? str_of(names[n - 1]) : NULL;
}

static int scan_col(binder_t *b, size_t field)
{
    sql_plan_t *p = b->p;
    for (size_t i = 0; i < p->nscan; i++)
        if (p->scan_fields[i] == field) return (int)i;
    size_t *f = ursa_realloc(p->scan_fields, (p->nscan + 1) * sizeof(*f));
    if (!f) return -1;
    p->scan_fields = f;
    exec_type_t *t = ursa_realloc(p->scan_types, (p->nscan + 1) * sizeof(*t));
    if (!t) return -1;
    p->scan_types = t;
    f[p->nscan] = field;
    t[p->nscan] = sql_exec_type(b->schema->fields[field].type);
    if ((int)field == b->schema->time_column) p->time_col = (int)p->nscan;
    return (int)p->nscan++;
}

static int bind_column(binder_t *b, const PgQuery__ColumnRef *cr, exec_expr_t **out)
{
    const char *name = NULL;
    if (cr->n_fields == 1)
        name = str_of(cr->fields[0]);
    else if (cr->n_fields == 2) {
        const char *q = str_of(cr->fields[0]);
        if (q && strcmp(q, b->p->dataset) && !(b->p->quarantine && strcmp(q, "quarantine") == 0))
            return bad(b, "unknown table \"%s\" (the query reads %s)", q, b->p->dataset);
        name = str_of(cr->fields[1]);
    }
    if (!name) return bad(b, "%s: * is allowed only as count(*) or SELECT *", b->clause);
    for (size_t i = 0; i < b->nfields; i++)
        if (strcmp(b->schema->fields[i].name, name) == 0) {
            int c = scan_col(b, i);
            if (c < 0) return oom(b);
            exec_expr_t *e = mk(OP_COL, b->p->scan_types[c]);
            if (!e) return oom(b);
            e->col = (size_t)c;
            *out = e;
            return URSA_OK;
        }
    return bad(b, "column \"%s\" does not exist in %s", name, b->p->dataset);
}

static int bind(binder_t *b, const node_t *n, exec_expr_t **out);

static int bind_type(binder_t *b, const PgQuery__TypeName *tn, exec_type_t *t)
{
    const char *name = last_name(tn->names, tn->n_names);
    if (!name) return bad(b, "a type without a name");
    static const struct {
        const char *name;
        exec_type_t t;
    } types[] = {
        {"int2", EXEC_INT64},
        {"int4", EXEC_INT64},
        {"int8", EXEC_INT64},
        {"integer", EXEC_INT64},
        {"bigint", EXEC_INT64},
        {"smallint", EXEC_INT64},
        {"float4", EXEC_FLOAT64},
        {"float8", EXEC_FLOAT64},
        {"double", EXEC_FLOAT64},
        {"real", EXEC_FLOAT64},
        {"numeric", EXEC_FLOAT64},
        {"decimal", EXEC_FLOAT64},
        {"text", EXEC_STRING},
        {"varchar", EXEC_STRING},
        {"bpchar", EXEC_STRING},
        {"bool", EXEC_BOOL},
        {"boolean", EXEC_BOOL},
        {"timestamp", EXEC_TIMESTAMP},
        {"timestamptz", EXEC_TIMESTAMP},
        {"date", EXEC_DATE},
        {"interval", EXEC_INTERVAL},
    };
    for (size_t i = 0; i < URSA_ARRAY_LEN(types); i++)
        if (strcmp(name, types[i].name) == 0) {
            *t = types[i].t;
            return URSA_OK;
        }
    return bad(b, "type %s is not supported", name);
}

static int bind_const(binder_t *b, const PgQuery__AConst *c, exec_expr_t **out)
{
    exec_expr_t *e = NULL;
    if (c->isnull) {
        e = mk(OP_CONST, EXEC_NULL);
        if (e) e->value.null = true;
    } else
        switch (c->val_case) {
        case PG_QUERY__A__CONST__VAL_IVAL:
            if ((e = mk(OP_CONST, EXEC_INT64))) e->value.type = EXEC_INT64, e->value.v.i = c->ival->ival;
            break;
        case PG_QUERY__A__CONST__VAL_FVAL: {
            const char *s = c->fval->fval;
            int64_t i;
            bool integral = strspn(s + (*s == '-'), "0123456789") == strlen(s + (*s == '-'));
            if (integral) {
                if (ursa_parse_i64(s, strlen(s), &i))
                    return bad(b, "integer %s is out of the bigint range", s);
                if ((e = mk(OP_CONST, EXEC_INT64))) e->value.type = EXEC_INT64, e->value.v.i = i;
            } else if ((e = mk(OP_CONST, EXEC_FLOAT64)))
                e->value.type = EXEC_FLOAT64, e->value.v.f = strtod(s, NULL);
            break;
        }
        case PG_QUERY__A__CONST__VAL_BOOLVAL:
            if ((e = mk(OP_CONST, EXEC_BOOL))) e->value.type = EXEC_BOOL, e->value.v.i = c->boolval->boolval;
            break;
        case PG_QUERY__A__CONST__VAL_SVAL:
            e = const_str(c->sval->sval, strlen(c->sval->sval));
            break;
        default:
            return bad(b, "bit-string constants are not supported");
        }
    if (!e) return oom(b);
    *out = e;
    return URSA_OK;
}

static int add_agg(binder_t *b, sql_agg_kind_t kind, exec_expr_t *arg, exec_type_t type, double fraction,
                   exec_expr_t **out)
{
    sql_plan_t *p = b->p;
    for (size_t i = 0; i < p->naggs; i++) { /* the same aggregate twice is computed once */
        sql_agg_t *a = &p->aggs[i];
        if (a->kind == kind && a->fraction == fraction &&
            ((!a->arg && !arg) || (a->arg && arg && exec_expr_equal(a->arg, arg)))) {
            exec_expr_free(arg);
            exec_expr_t *e = mk(OP_AGG, a->type);
            if (!e) return oom(b);
            e->col = i;
            *out = e;
            return URSA_OK;
        }
    }
    sql_agg_t *arr = ursa_realloc(p->aggs, (p->naggs + 1) * sizeof(*arr));
    exec_expr_t *e = mk(OP_AGG, type);
    if (!arr || !e) {
        if (arr) p->aggs = arr;
        exec_expr_free(arg);
        exec_expr_free(e);
        return oom(b);
    }
    p->aggs = arr;
    arr[p->naggs] = (sql_agg_t){kind, arg, type, fraction};
    e->col = p->naggs++;
    *out = e;
    return URSA_OK;
}

static int const_fraction(binder_t *b, const node_t *n, double *f)
{
    exec_expr_t *e = NULL;
    int rc = bind(b, n, &e);
    if (rc == URSA_OK && (rc = fold(b, &e)) == URSA_OK) {
        if (e->op != OP_CONST || !is_numeric(e->type) || e->value.null)
            rc = bad(b, "a quantile's fraction must be a constant number");
        else {
            *f = e->type == EXEC_INT64 ? (double)e->value.v.i : e->value.v.f;
            if (!(*f >= 0 && *f <= 1)) rc = bad(b, "a quantile's fraction must lie between 0 and 1");
        }
    }
    exec_expr_free(e);
    return rc;
}

static int bind_agg(binder_t *b, const char *name, const PgQuery__FuncCall *f, exec_expr_t **out)
{
    if (!b->aggs_allowed) return bad(b, "aggregate functions are not allowed in %s", b->clause);
    if (f->over) return bad(b, "window functions are not supported");
    if (f->agg_filter) return bad(b, "FILTER on aggregates is not supported");
    b->aggs_allowed = false; /* no aggregate inside an aggregate */
    exec_expr_t *arg = NULL;
    int rc = URSA_OK;
    sql_agg_kind_t kind = AGG_COUNT_STAR;
    exec_type_t type = EXEC_INT64;
    double fraction = 0;
    if (!strcmp(name, "count") && f->agg_star) {
        kind = AGG_COUNT_STAR;
    } else if (!strcmp(name, "percentile_cont") || !strcmp(name, "quantile_cont")) {
        if (!f->agg_within_group || f->n_args != 1 || f->n_agg_order != 1)
            rc = bad(b, "percentile_cont takes (fraction) WITHIN GROUP (ORDER BY x)");
        else if ((rc = const_fraction(b, f->args[0], &fraction)) == URSA_OK)
            rc = bind(b, f->agg_order[0]->sort_by->node, &arg);
        kind = AGG_QUANTILE_CONT;
        type = EXEC_FLOAT64;
        if (rc == URSA_OK && !is_numeric(arg->type))
            rc = bad(b, "percentile_cont needs a number, not %s", exec_type_name(arg->type));
        if (rc == URSA_OK) rc = cast_to(b, &arg, EXEC_FLOAT64);
    } else if (!strcmp(name, "approx_quantile")) {
        kind = AGG_APPROX_QUANTILE;
        if (f->n_args != 2)
            rc = bad(b, "approx_quantile takes (x, fraction)");
        else if ((rc = const_fraction(b, f->args[1], &fraction)) == URSA_OK)
            rc = bind(b, f->args[0], &arg);
        if (rc == URSA_OK && !is_numeric(arg->type) && arg->type != EXEC_TIMESTAMP && arg->type != EXEC_DATE)
            rc = bad(b, "approx_quantile needs a number or a time, not %s", exec_type_name(arg->type));
        if (rc == URSA_OK) type = arg->type;
    } else {
        if (f->n_args != 1) {
            b->aggs_allowed = true;
            return bad(b, "%s takes one argument", name);
        }
        if (f->agg_within_group || f->n_agg_order) {
            b->aggs_allowed = true;
            return bad(b, "ORDER BY inside %s is not supported", name);
        }
        if ((rc = bind(b, f->args[0], &arg)) == URSA_OK) {
            if (!strcmp(name, "count"))
                kind = f->agg_distinct ? AGG_COUNT_DISTINCT : AGG_COUNT;
            else if (f->agg_distinct)
                rc = bad(b, "DISTINCT is supported in count(DISTINCT x) only");
            else if (!strcmp(name, "sum") || !strcmp(name, "avg")) {
                kind = name[0] == 's' ? AGG_SUM : AGG_AVG;
                if (arg->type == EXEC_NULL && (rc = cast_to(b, &arg, EXEC_INT64))) goto done;
                if (!is_numeric(arg->type))
                    rc = bad(b, "%s needs a number, not %s", name, exec_type_name(arg->type));
                type = kind == AGG_AVG ? EXEC_FLOAT64 : arg->type;
            } else if (!strcmp(name, "min") || !strcmp(name, "max")) {
                kind = name[1] == 'i' ? AGG_MIN : AGG_MAX;
                type = arg->type;
                if (type == EXEC_INTERVAL) rc = bad(b, "%s of an interval is not supported", name);
            } else if (!strcmp(name, "approx_count_distinct")) {
                kind = AGG_APPROX_DISTINCT;
            } else
                rc = bad(b, "unknown aggregate %s", name);
        }
        if (rc == URSA_OK && arg->type == EXEC_NULL) rc = cast_to(b, &arg, EXEC_INT64);
        if (rc == URSA_OK && arg->type == EXEC_NULL) type = EXEC_INT64;
    }
done:
    b->aggs_allowed = true;
    if (rc) {
        exec_expr_free(arg);
        return rc;
    }
    return add_agg(b, kind, arg, type, fraction, out);
}

static bool is_agg_name(const char *n)
{
    static const char *const names[] = {"count",
                                        "sum",
                                        "avg",
                                        "min",
                                        "max",
                                        "approx_count_distinct",
                                        "percentile_cont",
                                        "quantile_cont",
                                        "approx_quantile"};
    for (size_t i = 0; i < URSA_ARRAY_LEN(names); i++)
        if (!strcmp(n, names[i])) return true;
    return false;
}

/* A constant string argument (a unit name). */
static int const_text(binder_t *b, const node_t *n, const char *fn, char *buf, size_t cap)
{
    if (!n || n->node_case != PG_QUERY__NODE__NODE_A_CONST ||
        n->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL)
        return bad(b, "%s: the first argument must be a constant string", fn);
    snprintf(buf, cap, "%s", n->a_const->sval->sval);
    return URSA_OK;
}

static int bind_args(binder_t *b, const PgQuery__FuncCall *f, exec_expr_t *e, size_t from)
{
    for (size_t i = from; i < f->n_args; i++) {
        exec_expr_t *a = NULL;
        int rc = bind(b, f->args[i], &a);
        if (rc) return rc;
        if (exec_expr_add(e, a)) return oom(b);
    }
    return URSA_OK;
}

static int need_args(binder_t *b, const char *name, const PgQuery__FuncCall *f, size_t lo, size_t hi)
{
    if (f->n_args < lo || f->n_args > hi)
        return lo == hi ? bad(b, "%s takes %zu argument%s", name, lo, lo == 1 ? "" : "s")
                        : bad(b, "%s takes %zu to %zu arguments", name, lo, hi);
    if (f->agg_star || f->agg_distinct || f->n_agg_order || f->over)
        return bad(b, "%s is not an aggregate", name);
    return URSA_OK;
}

static int arg_type(binder_t *b, exec_expr_t *e, size_t i, exec_type_t t, const char *fn)
{
    if (e->args[i]->type == t) return URSA_OK;
    if (e->args[i]->type == EXEC_NULL || (e->args[i]->op == OP_CONST && e->args[i]->type == EXEC_STRING) ||
        (t == EXEC_FLOAT64 && e->args[i]->type == EXEC_INT64) ||
        (t == EXEC_TIMESTAMP && e->args[i]->type == EXEC_DATE))
        return cast_to(b, &e->args[i], t);
    return bad(b, "%s: argument %zu must be %s, not %s", fn, i + 1, exec_type_name(t),
               exec_type_name(e->args[i]->type));
}

static int bind_func(binder_t *b, const PgQuery__FuncCall *f, exec_expr_t **out)
{
    const char *name = last_name(f->funcname, f->n_funcname);
    if (!name) return bad(b, "a function without a name");
    if (f->over) return bad(b, "window functions are not supported (%s ... OVER)", name);
    if (is_agg_name(name)) return bind_agg(b, name, f, out);
    static const struct {
        const char *name;
        exec_op_t op;
        size_t lo, hi;
    } funcs[] = {
        {"lower", OP_LOWER, 1, 1},
        {"upper", OP_UPPER, 1, 1},
        {"length", OP_LENGTH, 1, 1},
        {"char_length", OP_LENGTH, 1, 1},
        {"substr", OP_SUBSTR, 2, 3},
        {"substring", OP_SUBSTR, 2, 3},
        {"starts_with", OP_STARTS_WITH, 2, 2},
        {"concat", OP_CONCAT, 1, 64},
        {"date_trunc", OP_DATE_TRUNC, 2, 2},
        {"time_bucket", OP_TIME_BUCKET, 2, 2},
        {"extract", OP_EXTRACT, 2, 2},
        {"date_part", OP_EXTRACT, 2, 2},
        {"abs", OP_ABS, 1, 1},
        {"round", OP_ROUND, 1, 2},
        {"floor", OP_FLOOR, 1, 1},
        {"ceil", OP_CEIL, 1, 1},
        {"ceiling", OP_CEIL, 1, 1},
        {"coalesce", OP_COALESCE, 1, 64},
        {"nullif", OP_NULLIF, 2, 2},
        {"now", OP_CONST, 0, 0},
    };
    size_t k = 0;
    while (k < URSA_ARRAY_LEN(funcs) && strcmp(funcs[k].name, name)) k++;
    if (k == URSA_ARRAY_LEN(funcs)) return bad(b, "function %s does not exist (or is not supported)", name);
    int rc = need_args(b, name, f, funcs[k].lo, funcs[k].hi);
    if (rc) return rc;
    exec_op_t op = funcs[k].op;
    if (op == OP_CONST) { /* now() */
        exec_expr_t *e = mk(OP_CONST, EXEC_TIMESTAMP);
        if (!e) return oom(b);
        e->value.type = EXEC_TIMESTAMP;
        e->value.v.i = b->now_us;
        *out = e;
        return URSA_OK;
    }
    exec_expr_t *e = mk(op, EXEC_NULL);
    if (!e) return oom(b);
    char unit[64];
    if (op == OP_DATE_TRUNC || op == OP_EXTRACT) {
        if ((rc = const_text(b, f->args[0], name, unit, sizeof(unit)))) goto fail;
        int u = exec_time_unit(unit);
        if (u < 0 || (op == OP_DATE_TRUNC && u > TU_MILLENNIUM)) {
            rc = bad(b, "%s: unknown unit '%s'", name, unit);
            goto fail;
        }
        e->unit = u;
        exec_expr_t *a = NULL;
        if ((rc = bind(b, f->args[1], &a))) goto fail;
        if (exec_expr_add(e, a)) {
            rc = oom(b);
            goto fail;
        }
        if (e->args[0]->type == EXEC_DATE || e->args[0]->type == EXEC_NULL ||
            (e->args[0]->type == EXEC_STRING && e->args[0]->op == OP_CONST)) {
            if ((rc = cast_to(b, &e->args[0], EXEC_TIMESTAMP))) goto fail;
        }
        if (e->args[0]->type != EXEC_TIMESTAMP) {
            rc = bad(b, "%s needs a timestamp or a date, not %s", name, exec_type_name(e->args[0]->type));
            goto fail;
        }
        e->type = op == OP_DATE_TRUNC ? EXEC_TIMESTAMP : e->unit == TU_EPOCH ? EXEC_FLOAT64 : EXEC_INT64;
        *out = e;
        return URSA_OK;
    }
    if ((rc = bind_args(b, f, e, 0))) goto fail;
    switch (op) {
    case OP_LOWER:
    case OP_UPPER:
    case OP_LENGTH:
        if ((rc = arg_type(b, e, 0, EXEC_STRING, name))) goto fail;
        e->type = op == OP_LENGTH ? EXEC_INT64 : EXEC_STRING;
        break;
    case OP_SUBSTR:
        if ((rc = arg_type(b, e, 0, EXEC_STRING, name)) || (rc = arg_type(b, e, 1, EXEC_INT64, name)) ||
            (e->nargs > 2 && (rc = arg_type(b, e, 2, EXEC_INT64, name))))
            goto fail;
        e->type = EXEC_STRING;
        break;
    case OP_STARTS_WITH:
        if ((rc = arg_type(b, e, 0, EXEC_STRING, name)) || (rc = arg_type(b, e, 1, EXEC_STRING, name)))
            goto fail;
        e->type = EXEC_BOOL;
        break;
    case OP_CONCAT:
        for (size_t i = 0; i < e->nargs; i++)
            if ((rc = cast_to(b, &e->args[i], EXEC_STRING))) goto fail;
        e->type = EXEC_STRING;
        break;
    case OP_TIME_BUCKET:
        if ((rc = arg_type(b, e, 0, EXEC_INTERVAL, name)) || (rc = fold(b, &e->args[0]))) goto fail;
        if (e->args[0]->op != OP_CONST || e->args[0]->value.null) {
            rc = bad(b, "time_bucket: the width must be a constant interval");
            goto fail;
        }
        {
            const exec_interval_t *w = &e->args[0]->value.v.iv;
            if ((w->months && (w->days || w->us)) || w->months < 0 || w->days < 0 || w->us < 0 ||
                (!w->months && !w->days && !w->us)) {
                rc =
                    bad(b, "time_bucket: the width must be positive, in months or in days and smaller units");
                goto fail;
            }
        }
        if ((rc = arg_type(b, e, 1, EXEC_TIMESTAMP, name))) goto fail;
        e->type = EXEC_TIMESTAMP;
        break;
    case OP_ABS:
    case OP_FLOOR:
    case OP_CEIL:
    case OP_ROUND:
        if (e->args[0]->type == EXEC_NULL && (rc = cast_to(b, &e->args[0], EXEC_FLOAT64))) goto fail;
        if (!is_numeric(e->args[0]->type)) {
            rc = bad(b, "%s needs a number, not %s", name, exec_type_name(e->args[0]->type));
            goto fail;
        }
        if (e->nargs > 1 && (rc = arg_type(b, e, 1, EXEC_INT64, name))) goto fail;
        /* floor and ceil of a bigint are doubles, as DuckDB types them */
        if ((op == OP_FLOOR || op == OP_CEIL) && (rc = cast_to(b, &e->args[0], EXEC_FLOAT64))) goto fail;
        e->type = e->args[0]->type;
        break;
    case OP_COALESCE:
    case OP_NULLIF: {
        exec_type_t t = EXEC_NULL;
        if ((rc = common_type(b, e->args, e->nargs, name, &t))) goto fail;
        e->type = t;
        break;
    }
    default:
        break;
    }
    *out = e;
    return URSA_OK;
fail:
    exec_expr_free(e);
    return rc;
}

static int bind_arith(binder_t *b, const char *opname, exec_expr_t *x, exec_expr_t *y, exec_expr_t **out)
{
    exec_op_t op = !strcmp(opname, "+")   ? OP_ADD
                   : !strcmp(opname, "-") ? OP_SUB
                   : !strcmp(opname, "*") ? OP_MUL
                   : !strcmp(opname, "/") ? OP_DIV
                                          : OP_MOD;
    int rc;
    /* timestamp +- interval, interval + timestamp */
    if ((op == OP_ADD || op == OP_SUB) && (x->type == EXEC_TIMESTAMP || x->type == EXEC_DATE) &&
        (y->type == EXEC_INTERVAL || (y->op == OP_CONST && y->type == EXEC_STRING))) {
        if ((rc = cast_to(b, &x, EXEC_TIMESTAMP)) || (rc = cast_to(b, &y, EXEC_INTERVAL))) goto fail;
        return mk2(b, op, EXEC_TIMESTAMP, x, y, out);
    }
    if (op == OP_ADD && x->type == EXEC_INTERVAL && (y->type == EXEC_TIMESTAMP || y->type == EXEC_DATE)) {
        if ((rc = cast_to(b, &y, EXEC_TIMESTAMP))) goto fail;
        return mk2(b, op, EXEC_TIMESTAMP, y, x, out);
    }
    if (x->type == EXEC_NULL) {
        if ((rc = cast_to(b, &x, y->type == EXEC_NULL ? EXEC_INT64 : y->type))) goto fail;
    }
    if (y->type == EXEC_NULL && (rc = cast_to(b, &y, x->type))) goto fail;
    if (x->op == OP_CONST && x->type == EXEC_STRING && is_numeric(y->type) && (rc = cast_to(b, &x, y->type)))
        goto fail;
    if (y->op == OP_CONST && y->type == EXEC_STRING && is_numeric(x->type) && (rc = cast_to(b, &y, x->type)))
        goto fail;
    if (!is_numeric(x->type) || !is_numeric(y->type)) {
        rc = bad(b, "operator %s is not defined for %s and %s", opname, exec_type_name(x->type),
                 exec_type_name(y->type));
        goto fail;
    }
    exec_type_t t =
        x->type == EXEC_FLOAT64 || y->type == EXEC_FLOAT64 || op == OP_DIV ? EXEC_FLOAT64 : EXEC_INT64;
    if ((rc = cast_to(b, &x, t)) || (rc = cast_to(b, &y, t))) goto fail;
    return mk2(b, op, t, x, y, out);
fail:
    exec_expr_free(x), exec_expr_free(y);
    return rc;
}

static int bind_cmp(binder_t *b, exec_op_t op, exec_expr_t *x, exec_expr_t *y, exec_expr_t **out)
{
    int rc = unify(b, &x, &y, "comparison");
    if (rc == URSA_OK && x->type == EXEC_NULL && (rc = cast_to(b, &x, EXEC_INT64)) == URSA_OK)
        rc = cast_to(b, &y, EXEC_INT64);
    if (rc) {
        exec_expr_free(x), exec_expr_free(y);
        return rc;
    }
    return mk2(b, op, EXEC_BOOL, x, y, out);
}

static int bind_like(binder_t *b, exec_op_t op, bool negate, exec_expr_t *x, exec_expr_t *y,
                     exec_expr_t **out)
{
    int rc = URSA_OK;
    if (x->type == EXEC_NULL) rc = cast_to(b, &x, EXEC_STRING);
    if (rc == URSA_OK && (rc = fold(b, &y)) == URSA_OK) {
        if (y->op != OP_CONST || (y->type != EXEC_STRING && y->type != EXEC_NULL))
            rc = bad(b, "LIKE patterns must be constant strings");
        else if (x->type != EXEC_STRING)
            rc = bad(b, "LIKE needs a string, not %s", exec_type_name(x->type));
    }
    if (rc) {
        exec_expr_free(x), exec_expr_free(y);
        return rc;
    }
    if (y->value.null) { /* x LIKE NULL is NULL */
        exec_expr_free(x);
        exec_expr_free(y);
        exec_expr_t *e = mk(OP_CONST, EXEC_BOOL);
        if (!e) return oom(b);
        e->value.type = EXEC_BOOL, e->value.null = true;
        *out = e;
        return URSA_OK;
    }
    exec_expr_t *e = mk(op, EXEC_BOOL);
    if (!e) {
        exec_expr_free(x), exec_expr_free(y);
        return oom(b);
    }
    exec_str_t s = y->value.v.s;
    e->text = ursa_malloc(s.n + 1);
    if (e->text) {
        memcpy(e->text, s.p, s.n);
        e->text[s.n] = '\0';
        if (memchr(s.p, '\0', s.n)) e->text[0] = '\0', rc = bad(b, "LIKE pattern with a NUL byte");
    }
    if (op == OP_ILIKE && e->text) { /* the pattern folded once, as the values are (exec_case_map) */
        size_t n = strlen(e->text);
        char *t = ursa_malloc(EXEC_CASE_MAP_MAX(n) + 1);
        if (t) {
            t[exec_case_map(e->text, n, false, t)] = '\0';
            ursa_free(e->text);
            e->text = t;
        } else {
            ursa_free(e->text);
            e->text = NULL;
        }
    }
    exec_expr_free(y);
    if (!e->text || rc || exec_expr_add(e, x)) {
        if (!e->text || rc) exec_expr_free(x);
        exec_expr_free(e);
        return rc ? rc : oom(b);
    }
    if (negate) return mk1(b, OP_NOT, EXEC_BOOL, e, out);
    *out = e;
    return URSA_OK;
}

static int bind_aexpr(binder_t *b, const PgQuery__AExpr *a, exec_expr_t **out)
{
    const char *opname = last_name(a->name, a->n_name);
    exec_expr_t *x = NULL, *y = NULL;
    int rc;
    switch (a->kind) {
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
        if (!opname) return bad(b, "an operator without a name");
        if (!a->lexpr) { /* unary */
            if ((rc = bind(b, a->rexpr, &x))) return rc;
            if (!strcmp(opname, "+")) {
                *out = x;
                return URSA_OK;
            }
            if (strcmp(opname, "-") || (x->type == EXEC_NULL ? (rc = cast_to(b, &x, EXEC_INT64)) : 0) ||
                !is_numeric(x->type)) {
                exec_expr_free(x);
                return rc ? rc : bad(b, "operator %s is not supported here", opname);
            }
            return mk1(b, OP_NEG, x->type, x, out);
        }
        if ((rc = bind(b, a->lexpr, &x))) return rc;
        if ((rc = bind(b, a->rexpr, &y))) {
            exec_expr_free(x);
            return rc;
        }
        if (!strcmp(opname, "+") || !strcmp(opname, "-") || !strcmp(opname, "*") || !strcmp(opname, "/") ||
            !strcmp(opname, "%"))
            return bind_arith(b, opname, x, y, out);
        if (!strcmp(opname, "||")) {
            if ((rc = cast_to(b, &x, EXEC_STRING)) || (rc = cast_to(b, &y, EXEC_STRING))) {
                exec_expr_free(x), exec_expr_free(y);
                return rc;
            }
            return mk2(b, OP_CONCAT_OP, EXEC_STRING, x, y, out);
        }
        static const struct {
            const char *name;
            exec_op_t op;
        } cmps[] = {{"=", OP_EQ},  {"<>", OP_NE}, {"!=", OP_NE}, {"<", OP_LT},
                    {"<=", OP_LE}, {">", OP_GT},  {">=", OP_GE}};
        for (size_t i = 0; i < URSA_ARRAY_LEN(cmps); i++)
            if (!strcmp(opname, cmps[i].name)) return bind_cmp(b, cmps[i].op, x, y, out);
        if (!strcmp(opname, "~~") || !strcmp(opname, "!~~"))
            return bind_like(b, OP_LIKE, opname[0] == '!', x, y, out);
        if (!strcmp(opname, "~~*") || !strcmp(opname, "!~~*"))
            return bind_like(b, OP_ILIKE, opname[0] == '!', x, y, out);
        exec_expr_free(x), exec_expr_free(y);
        return bad(b, "operator %s is not supported", opname);
    case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
    case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE:
        if ((rc = bind(b, a->lexpr, &x))) return rc;
        if ((rc = bind(b, a->rexpr, &y))) {
            exec_expr_free(x);
            return rc;
        }
        return bind_like(b, a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_LIKE ? OP_LIKE : OP_ILIKE,
                         opname && opname[0] == '!', x, y, out);
    case PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF:
        if ((rc = bind(b, a->lexpr, &x))) return rc;
        if ((rc = bind(b, a->rexpr, &y))) {
            exec_expr_free(x);
            return rc;
        }
        if ((rc = unify(b, &x, &y, "NULLIF"))) {
            exec_expr_free(x), exec_expr_free(y);
            return rc;
        }
        return mk2(b, OP_NULLIF, x->type, x, y, out);
    case PG_QUERY__A__EXPR__KIND__AEXPR_IN: {
        if (!a->rexpr || a->rexpr->node_case != PG_QUERY__NODE__NODE_LIST)
            return bad(b, "IN takes a list of values (subqueries are not supported)");
        bool negate = opname && !strcmp(opname, "<>");
        if ((rc = bind(b, a->lexpr, &x))) return rc;
        exec_expr_t *e = mk(OP_IN, EXEC_BOOL);
        if (!e || exec_expr_add(e, x)) {
            exec_expr_free(e);
            return oom(b);
        }
        const PgQuery__List *l = a->rexpr->list;
        for (size_t i = 0; i < l->n_items; i++) {
            if ((rc = bind(b, l->items[i], &y))) goto in_fail;
            if ((rc = unify(b, &e->args[0], &y, "IN"))) {
                exec_expr_free(y);
                goto in_fail;
            }
            if (exec_expr_add(e, y)) {
                rc = oom(b);
                goto in_fail;
            }
        }
        for (size_t i = 1; i < e->nargs; i++) /* earlier items may need the type later ones gave args[0] */
            if ((rc = cast_to(b, &e->args[i], e->args[0]->type)) || (rc = fold(b, &e->args[i]))) goto in_fail;
        if (negate) return mk1(b, OP_NOT, EXEC_BOOL, e, out);
        *out = e;
        return URSA_OK;
    in_fail:
        exec_expr_free(e);
        return rc;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN: {
        const PgQuery__List *l =
            a->rexpr && a->rexpr->node_case == PG_QUERY__NODE__NODE_LIST ? a->rexpr->list : NULL;
        if (!l || l->n_items != 2) return bad(b, "BETWEEN takes two bounds");
        exec_expr_t *x2 = NULL, *lo = NULL, *hi = NULL, *c1 = NULL, *c2 = NULL, *both = NULL;
        if ((rc = bind(b, a->lexpr, &x)) || (rc = bind(b, a->lexpr, &x2)) ||
            (rc = bind(b, l->items[0], &lo)) || (rc = bind(b, l->items[1], &hi))) {
            exec_expr_free(x), exec_expr_free(x2), exec_expr_free(lo);
            return rc;
        }
        if ((rc = bind_cmp(b, OP_GE, x, lo, &c1))) {
            exec_expr_free(x2), exec_expr_free(hi);
            return rc;
        }
        if ((rc = bind_cmp(b, OP_LE, x2, hi, &c2))) {
            exec_expr_free(c1);
            return rc;
        }
        if ((rc = mk2(b, OP_AND, EXEC_BOOL, c1, c2, &both))) return rc;
        if (a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN)
            return mk1(b, OP_NOT, EXEC_BOOL, both, out);
        *out = both;
        return URSA_OK;
    }
    default:
        return bad(b, "this kind of operator expression (%d) is not supported", (int)a->kind);
    }
}

static int bind_case(binder_t *b, const PgQuery__CaseExpr *c, exec_expr_t **out)
{
    exec_expr_t *e = mk(OP_CASE, EXEC_NULL);
    if (!e) return oom(b);
    int rc = URSA_OK;
    exec_type_t t = EXEC_NULL;
    for (size_t i = 0; i < c->n_args && rc == URSA_OK; i++) {
        const PgQuery__CaseWhen *w = c->args[i]->case_when;
        exec_expr_t *cond = NULL, *val = NULL;
        if (c->arg) { /* simple CASE x WHEN v: x = v */
            exec_expr_t *x = NULL, *v = NULL;
            if ((rc = bind(b, c->arg, &x)) || (rc = bind(b, w->expr, &v))) {
                exec_expr_free(x);
                break;
            }
            if ((rc = bind_cmp(b, OP_EQ, x, v, &cond))) break;
        } else if ((rc = bind(b, w->expr, &cond)))
            break;
        if (cond->type == EXEC_NULL) rc = cast_to(b, &cond, EXEC_BOOL);
        if (rc == URSA_OK && cond->type != EXEC_BOOL) rc = bad(b, "CASE WHEN needs a boolean condition");
        if (rc) {
            exec_expr_free(cond);
            break;
        }
        if ((rc = exec_expr_add(e, cond)) || (rc = bind(b, w->result, &val)) ||
            (rc = exec_expr_add(e, val))) {
            if (rc == URSA_ENOMEM) rc = oom(b);
            break;
        }
    }
    if (rc == URSA_OK && c->defresult) {
        exec_expr_t *d = NULL;
        if ((rc = bind(b, c->defresult, &d)) == URSA_OK && exec_expr_add(e, d)) rc = oom(b);
    }
    /* the result type: the branches' common type (their values: args 1, 3, ... and the ELSE) */
    if (rc == URSA_OK) {
        exec_expr_t **vals = ursa_malloc((e->nargs / 2 + 1) * sizeof(*vals));
        size_t nv = 0;
        if (!vals)
            rc = oom(b);
        else {
            for (size_t i = 1; i < e->nargs; i += 2) vals[nv++] = e->args[i];
            if (e->nargs & 1) vals[nv++] = e->args[e->nargs - 1];
            rc = common_type(b, vals, nv, "CASE", &t);
            nv = 0; /* the casts replaced the trees: put them back */
            for (size_t i = 1; i < e->nargs; i += 2) e->args[i] = vals[nv++];
            if (e->nargs & 1) e->args[e->nargs - 1] = vals[nv++];
            ursa_free(vals);
        }
    }
    if (rc) {
        exec_expr_free(e);
        return rc;
    }
    e->type = t;
    *out = e;
    return URSA_OK;
}

static int bind(binder_t *b, const node_t *n, exec_expr_t **out)
{
    *out = NULL;
    if (!n) return bad(b, "an empty expression");
    int rc;
    exec_expr_t *x = NULL;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF:
        rc = bind_column(b, n->column_ref, out);
        break;
    case PG_QUERY__NODE__NODE_A_CONST:
        rc = bind_const(b, n->a_const, out);
        break;
    case PG_QUERY__NODE__NODE_A_EXPR:
        rc = bind_aexpr(b, n->a_expr, out);
        break;
    case PG_QUERY__NODE__NODE_FUNC_CALL:
        rc = bind_func(b, n->func_call, out);
        break;
    case PG_QUERY__NODE__NODE_CASE_EXPR:
        rc = bind_case(b, n->case_expr, out);
        break;
    case PG_QUERY__NODE__NODE_BOOL_EXPR: {
        const PgQuery__BoolExpr *be = n->bool_expr;
        exec_op_t op = be->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR  ? OP_AND
                       : be->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR ? OP_OR
                                                                         : OP_NOT;
        exec_expr_t *e = mk(op, EXEC_BOOL);
        if (!e) return oom(b);
        rc = URSA_OK;
        for (size_t i = 0; i < be->n_args && rc == URSA_OK; i++) {
            if ((rc = bind(b, be->args[i], &x))) break;
            if (x->type == EXEC_NULL) rc = cast_to(b, &x, EXEC_BOOL);
            if (rc == URSA_OK && x->type != EXEC_BOOL) {
                rc = bad(b, "%s needs booleans, not %s",
                         op == OP_AND  ? "AND"
                         : op == OP_OR ? "OR"
                                       : "NOT",
                         exec_type_name(x->type));
                exec_expr_free(x);
            } else if (rc == URSA_OK && exec_expr_add(e, x))
                rc = oom(b);
        }
        if (rc)
            exec_expr_free(e);
        else
            *out = e;
        break;
    }
    case PG_QUERY__NODE__NODE_NULL_TEST:
        if ((rc = bind(b, n->null_test->arg, &x)) == URSA_OK)
            rc = mk1(b,
                     n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL ? OP_IS_NULL
                                                                                     : OP_IS_NOT_NULL,
                     EXEC_BOOL, x, out);
        break;
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
        exec_type_t t = EXEC_NULL;
        if ((rc = bind_type(b, n->type_cast->type_name, &t))) break;
        if ((rc = bind(b, n->type_cast->arg, &x))) break;
        if (x->type != t && x->type != EXEC_NULL && x->type != EXEC_STRING && t != EXEC_STRING &&
            !(is_numeric(x->type) && (is_numeric(t) || t == EXEC_BOOL)) &&
            !(x->type == EXEC_BOOL && is_numeric(t)) &&
            !((x->type == EXEC_DATE || x->type == EXEC_TIMESTAMP) &&
              (t == EXEC_DATE || t == EXEC_TIMESTAMP))) {
            rc = bad(b, "cannot cast %s to %s", exec_type_name(x->type), exec_type_name(t));
            exec_expr_free(x);
            break;
        }
        rc = x->type == t ? (*out = x, URSA_OK) : mk1(b, OP_CAST, t, x, out);
        break;
    }
    case PG_QUERY__NODE__NODE_COALESCE_EXPR: {
        PgQuery__FuncCall f = PG_QUERY__FUNC_CALL__INIT;
        PgQuery__String s = PG_QUERY__STRING__INIT;
        node_t nm = PG_QUERY__NODE__INIT, *names[1] = {&nm};
        s.sval = "coalesce";
        nm.node_case = PG_QUERY__NODE__NODE_STRING;
        nm.string = &s;
        f.funcname = names, f.n_funcname = 1;
        f.args = n->coalesce_expr->args, f.n_args = n->coalesce_expr->n_args;
        rc = bind_func(b, &f, out);
        break;
    }
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION: {
        PgQuery__SQLValueFunctionOp op = n->sqlvalue_function->op;
        if (op != PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP &&
            op != PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE) {
            rc = bad(b, "this SQL value function is not supported");
            break;
        }
        exec_expr_t *e = mk(OP_CONST, EXEC_TIMESTAMP);
        if (!e) return oom(b);
        e->value.type = EXEC_TIMESTAMP;
        e->value.v.i = b->now_us;
        if (op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE) {
            e->type = e->value.type = EXEC_DATE;
            e->value.v.i = ursa_us_to_days(b->now_us);
        }
        *out = e;
        rc = URSA_OK;
        break;
    }
    case PG_QUERY__NODE__NODE_SUB_LINK:
        rc = bad(b, "subqueries are not supported");
        break;
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
        rc = bad(b, "GREATEST and LEAST are not supported");
        break;
    case PG_QUERY__NODE__NODE_BOOLEAN_TEST:
        rc = bad(b, "IS TRUE / IS FALSE are not supported");
        break;
    default:
        rc = bad(b, "this kind of expression (parse node %d) is not supported", (int)n->node_case);
    }
    if (rc == URSA_OK && (rc = fold(b, out)) != URSA_OK) {
        exec_expr_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- the grouped rewrite ---- */

static int regroup(binder_t *b, exec_expr_t **e)
{
    sql_plan_t *p = b->p;
    for (size_t k = 0; k < p->nkeys; k++)
        if (exec_expr_equal(*e, p->keys[k])) {
            exec_expr_t *c = mk(OP_COL, (*e)->type);
            if (!c) return oom(b);
            c->col = k;
            exec_expr_free(*e);
            *e = c;
            return URSA_OK;
        }
    if ((*e)->op == OP_AGG) {
        (*e)->op = OP_COL;
        (*e)->col += p->nkeys;
        return URSA_OK;
    }
    if ((*e)->op == OP_COL) {
        return bad(b, "column \"%s\" must appear in the GROUP BY clause or be used in an aggregate function",
                   b->schema->fields[p->scan_fields[(*e)->col]].name);
    }
    for (size_t i = 0; i < (*e)->nargs; i++) {
        int rc = regroup(b, &(*e)->args[i]);
        if (rc) return rc;
    }
    return URSA_OK;
}

/* ---- pushdown ---- */

static sql_pred_op_t pred_op(exec_op_t op, bool flip)
{
    switch (op) {
    case OP_LT:
        return flip ? PRED_GT : PRED_LT;
    case OP_LE:
        return flip ? PRED_GE : PRED_LE;
    case OP_GT:
        return flip ? PRED_LT : PRED_GT;
    case OP_GE:
        return flip ? PRED_LE : PRED_GE;
    default:
        return PRED_EQ;
    }
}

static int add_pred(binder_t *b, size_t col, sql_pred_op_t op, exec_expr_t *const *vals, size_t n)
{
    sql_plan_t *p = b->p;
    sql_pred_t *arr = ursa_realloc(p->preds, (p->npreds + 1) * sizeof(*arr));
    if (!arr) return oom(b);
    p->preds = arr;
    sql_pred_t *pr = &arr[p->npreds];
    memset(pr, 0, sizeof(*pr));
    pr->col = col, pr->op = op;
    if (n && !(pr->vals = ursa_calloc(n, sizeof(*pr->vals)))) return oom(b);
    for (size_t i = 0; i < n; i++) {
        pr->vals[i] = vals[i]->value;
        if (vals[i]->value.type == EXEC_STRING) {
            char *s = ursa_malloc(vals[i]->value.v.s.n + 1);
            if (!s) {
                pr->nvals = i;
                p->npreds++;
                return oom(b);
            }
            memcpy(s, vals[i]->value.v.s.p, vals[i]->value.v.s.n + 1);
            pr->vals[i].v.s.p = s;
        }
    }
    pr->nvals = n;
    p->npreds++;
    /* the time column's bounds */
    if ((int)col == p->time_col && n && vals[0]->type == EXEC_TIMESTAMP) {
        int64_t v = vals[0]->value.v.i;
        if ((op == PRED_GE || op == PRED_GT || op == PRED_EQ) && v > p->ts_lo) p->ts_lo = v;
        if ((op == PRED_LE || op == PRED_LT || op == PRED_EQ) && v < p->ts_hi) p->ts_hi = v;
    }
    return URSA_OK;
}

static bool plain_col(const exec_expr_t *e)
{
    return e->op == OP_COL;
}

static bool const_val(const exec_expr_t *e)
{
    return e->op == OP_CONST && !e->value.null;
}

static int pushdown(binder_t *b, const exec_expr_t *e)
{
    if (e->op == OP_AND) {
        for (size_t i = 0; i < e->nargs; i++) {
            int rc = pushdown(b, e->args[i]);
            if (rc) return rc;
        }
        return URSA_OK;
    }
    if (e->op >= OP_EQ && e->op <= OP_GE && e->op != OP_NE) {
        const exec_expr_t *x = e->args[0], *y = e->args[1];
        if (plain_col(x) && const_val(y)) return add_pred(b, x->col, pred_op(e->op, false), &e->args[1], 1);
        if (plain_col(y) && const_val(x)) return add_pred(b, y->col, pred_op(e->op, true), &e->args[0], 1);
        return URSA_OK;
    }
    if (e->op == OP_IN && plain_col(e->args[0])) {
        for (size_t i = 1; i < e->nargs; i++)
            if (!const_val(e->args[i])) return URSA_OK;
        return add_pred(b, e->args[0]->col, PRED_IN, e->args + 1, e->nargs - 1);
    }
    if ((e->op == OP_IS_NULL || e->op == OP_IS_NOT_NULL) && plain_col(e->args[0]))
        return add_pred(b, e->args[0]->col, e->op == OP_IS_NULL ? PRED_IS_NULL : PRED_NOT_NULL, NULL, 0);
    return URSA_OK;
}

/* ---- the statement ---- */

/* PostgreSQL's name for an unnamed select-list entry. */
static const char *figure_name(const node_t *n)
{
    switch (n ? n->node_case : 0) {
    case PG_QUERY__NODE__NODE_COLUMN_REF: {
        const PgQuery__ColumnRef *c = n->column_ref;
        const char *s = c->n_fields ? str_of(c->fields[c->n_fields - 1]) : NULL;
        return s ? s : "?column?";
    }
    case PG_QUERY__NODE__NODE_FUNC_CALL: {
        const char *s = last_name(n->func_call->funcname, n->func_call->n_funcname);
        return s ? s : "?column?";
    }
    case PG_QUERY__NODE__NODE_TYPE_CAST: {
        const char *s = figure_name(n->type_cast->arg);
        if (strcmp(s, "?column?")) return s;
        const PgQuery__TypeName *t = n->type_cast->type_name;
        s = last_name(t->names, t->n_names);
        return s ? (!strcmp(s, "int4") ? "int4" : s) : "?column?";
    }
    case PG_QUERY__NODE__NODE_CASE_EXPR:
        return "case";
    case PG_QUERY__NODE__NODE_COALESCE_EXPR:
        return "coalesce";
    case PG_QUERY__NODE__NODE_A_EXPR:
        if (n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF) return "nullif";
        return "?column?";
    default:
        return "?column?";
    }
}

static int add_out(binder_t *b, exec_expr_t *e, const char *name)
{
    sql_plan_t *p = b->p;
    exec_expr_t **o = ursa_realloc(p->outs, (p->nouts + 1) * sizeof(*o));
    if (!o) {
        exec_expr_free(e);
        return oom(b);
    }
    p->outs = o;
    o[p->nouts++] = e;
    if (name) {
        char **nm = ursa_realloc(p->names, p->nouts * sizeof(*nm));
        if (!nm) return oom(b);
        p->names = nm;
        if (!(nm[p->nouts - 1] = ursa_strdup(name))) return oom(b);
        p->nvisible = p->nouts;
    }
    return URSA_OK;
}

/* An integer constant as a position in the select list (GROUP BY 1, ORDER BY 2), or 0. */
static int64_t position(const node_t *n)
{
    if (n && n->node_case == PG_QUERY__NODE__NODE_A_CONST && !n->a_const->isnull &&
        n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL)
        return n->a_const->ival->ival ? n->a_const->ival->ival : -1;
    return 0;
}

static const char *bare_name(const node_t *n)
{
    if (n && n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref->n_fields == 1)
        return str_of(n->column_ref->fields[0]);
    return NULL;
}

static bool is_field(binder_t *b, const char *name)
{
    for (size_t i = 0; i < b->nfields; i++)
        if (!strcmp(b->schema->fields[i].name, name)) return true;
    return false;
}

static int limit_value(binder_t *b, const node_t *n, const char *what, int64_t *out)
{
    exec_expr_t *e = NULL;
    b->clause = what;
    int rc = bind(b, n, &e);
    if (rc) return rc;
    if (e->op != OP_CONST || e->type != EXEC_INT64 || e->value.null || e->value.v.i < 0)
        rc = e->op == OP_CONST && e->value.null && !strcmp(what, "LIMIT")
                 ? (*out = -1, URSA_OK)
                 : bad(b, "%s must be a non-negative integer", what);
    else
        *out = e->value.v.i;
    exec_expr_free(e);
    return rc;
}

static int plan_select(binder_t *b, const PgQuery__SelectStmt *s, sql_resolve_fn resolve, void *ctx)
{
    sql_plan_t *p = b->p;
    int rc;
    if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE &&
        s->op != PG_QUERY__SET_OPERATION__SET_OPERATION_UNDEFINED)
        return bad(b, "UNION, INTERSECT and EXCEPT are not supported");
    if (s->n_values_lists) return bad(b, "VALUES lists are not supported");
    if (s->with_clause) return bad(b, "WITH is not supported");
    if (s->n_distinct_clause)
        return bad(b, "SELECT DISTINCT is not supported (GROUP BY the columns instead)");
    if (s->n_window_clause) return bad(b, "window functions are not supported");
    if (s->into_clause) return bad(b, "SELECT INTO is not supported");
    if (s->n_locking_clause) return bad(b, "FOR UPDATE / FOR SHARE are not supported");
    if (s->n_from_clause != 1)
        return bad(b, s->n_from_clause ? "joins are not supported: FROM names one dataset"
                                       : "FROM <dataset> is required");
    const node_t *from = s->from_clause[0];
    if (from->node_case != PG_QUERY__NODE__NODE_RANGE_VAR)
        return bad(b, from->node_case == PG_QUERY__NODE__NODE_JOIN_EXPR ? "joins are not supported"
                      : from->node_case == PG_QUERY__NODE__NODE_RANGE_SUBSELECT
                          ? "subqueries are not supported"
                          : "FROM must name a dataset");
    const PgQuery__RangeVar *rv = from->range_var;
    if (rv->catalogname && rv->catalogname[0]) return bad(b, "FROM names a dataset, not a catalog");
    if (rv->schemaname && rv->schemaname[0]) {
        if (strcmp(rv->relname, "quarantine"))
            return bad(b, "FROM %s.%s: the only sub-table is <dataset>.quarantine", rv->schemaname,
                       rv->relname);
        p->quarantine = true;
        p->dataset = ursa_strdup(rv->schemaname);
    } else
        p->dataset = ursa_strdup(rv->relname);
    if (!p->dataset) return oom(b);
    if ((rc = resolve(ctx, p->dataset, p->quarantine, &b->schema, b->err))) return rc;
    b->nfields = ursa_schema_nfields(b->schema);

    /* select list: SELECT * expands to every column */
    typedef struct {
        const node_t *val;
        char name[URSA_NAME_MAX + 16];
    } item_t;
    size_t nitems = 0, cap = s->n_target_list + b->nfields;
    item_t *items = ursa_calloc(cap ? cap : 1, sizeof(*items));
    if (!items) return oom(b);
    for (size_t i = 0; i < s->n_target_list; i++) {
        const PgQuery__ResTarget *rt = s->target_list[i]->res_target;
        const node_t *v = rt->val;
        if (v && v->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && v->column_ref->n_fields >= 1 &&
            v->column_ref->fields[v->column_ref->n_fields - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR) {
            for (size_t f = 0; f < b->nfields; f++) {
                items[nitems].val = NULL;
                snprintf(items[nitems++].name, sizeof(items[0].name), "%s", b->schema->fields[f].name);
            }
            continue;
        }
        items[nitems].val = v;
        snprintf(items[nitems++].name, sizeof(items[0].name), "%s",
                 rt->name && rt->name[0] ? rt->name : figure_name(v));
    }

    /* WHERE */
    b->clause = "WHERE";
    b->aggs_allowed = false;
    if (s->where_clause) {
        if ((rc = bind(b, s->where_clause, &p->where))) goto out;
        if (p->where->type == EXEC_NULL && (rc = cast_to(b, &p->where, EXEC_BOOL))) goto out;
        if (p->where->type != EXEC_BOOL) {
            rc = bad(b, "WHERE needs a boolean, not %s", exec_type_name(p->where->type));
            goto out;
        }
        if ((rc = pushdown(b, p->where))) goto out;
    }

    /* GROUP BY */
    b->clause = "GROUP BY";
    for (size_t i = 0; i < s->n_group_clause; i++) {
        const node_t *g = s->group_clause[i];
        int64_t pos = position(g);
        const char *nm = bare_name(g);
        if (pos) {
            if (pos < 1 || (size_t)pos > nitems) {
                rc = bad(b, "GROUP BY position %lld is not in the select list", (long long)pos);
                goto out;
            }
            g = items[pos - 1].val;
        } else if (nm && !is_field(b, nm)) {
            for (size_t k = 0; k < nitems; k++)
                if (!strcmp(items[k].name, nm) && items[k].val) {
                    g = items[k].val;
                    break;
                }
        }
        exec_expr_t *key = NULL;
        if (!g) { /* SELECT * position */
            int c = scan_col(b, (size_t)pos - 1);
            if (c < 0 || !(key = mk(OP_COL, p->scan_types[c]))) {
                rc = oom(b);
                goto out;
            }
            key->col = (size_t)c;
        } else if ((rc = bind(b, g, &key)))
            goto out;
        exec_expr_t **k = ursa_realloc(p->keys, (p->nkeys + 1) * sizeof(*k));
        if (!k) {
            exec_expr_free(key);
            rc = oom(b);
            goto out;
        }
        p->keys = k;
        k[p->nkeys++] = key;
    }

    /* the select list, aggregates allowed */
    b->clause = "the select list";
    b->aggs_allowed = true;
    for (size_t i = 0; i < nitems; i++) {
        exec_expr_t *e = NULL;
        if (!items[i].val) {
            for (size_t f = 0; f < b->nfields; f++)
                if (!strcmp(b->schema->fields[f].name, items[i].name)) {
                    int c = scan_col(b, f);
                    if (c < 0 || !(e = mk(OP_COL, p->scan_types[c]))) {
                        rc = oom(b);
                        goto out;
                    }
                    e->col = (size_t)c;
                    break;
                }
        } else if ((rc = bind(b, items[i].val, &e)))
            goto out;
        if ((rc = add_out(b, e, items[i].name))) goto out;
    }

    /* HAVING */
    if (s->having_clause) {
        b->clause = "HAVING";
        if ((rc = bind(b, s->having_clause, &p->having))) goto out;
        if (p->having->type != EXEC_BOOL) {
            rc = bad(b, "HAVING needs a boolean, not %s", exec_type_name(p->having->type));
            goto out;
        }
    }

    /* ORDER BY: a position, an output name, or an expression (a hidden output) */
    b->clause = "ORDER BY";
    if (s->n_sort_clause && !(p->order = ursa_calloc(s->n_sort_clause, sizeof(*p->order)))) {
        rc = oom(b);
        goto out;
    }
    for (size_t i = 0; i < s->n_sort_clause; i++) {
        const PgQuery__SortBy *sb = s->sort_clause[i]->sort_by;
        if (sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING) {
            rc = bad(b, "ORDER BY ... USING is not supported");
            goto out;
        }
        sql_sort_key_t *k = &p->order[p->norder];
        k->desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
        /* NULLS LAST unless said otherwise, ascending or not (DuckDB's default) */
        k->nulls_first = sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST;
        int64_t pos = position(sb->node);
        const char *nm = bare_name(sb->node);
        if (pos) {
            if (pos < 1 || (size_t)pos > p->nvisible) {
                rc = bad(b, "ORDER BY position %lld is not in the select list", (long long)pos);
                goto out;
            }
            k->col = (size_t)pos - 1;
        } else {
            size_t found = SIZE_MAX;
            for (size_t j = 0; nm && j < p->nvisible; j++)
                if (!strcmp(p->names[j], nm)) {
                    if (found != SIZE_MAX && !exec_expr_equal(p->outs[found], p->outs[j])) {
                        rc = bad(b, "ORDER BY \"%s\" is ambiguous", nm);
                        goto out;
                    }
                    if (found == SIZE_MAX) found = j;
                }
            if (found == SIZE_MAX) {
                exec_expr_t *e = NULL;
                if ((rc = bind(b, sb->node, &e))) goto out;
                for (size_t j = 0; j < p->nouts && found == SIZE_MAX; j++)
                    if (exec_expr_equal(p->outs[j], e)) found = j;
                if (found == SIZE_MAX) {
                    found = p->nouts;
                    if ((rc = add_out(b, e, NULL))) goto out;
                } else
                    exec_expr_free(e);
            }
            k->col = found;
        }
        p->norder++;
    }

    /* grouped: everything after the aggregation is over [keys, aggregates] */
    p->aggregate = p->nkeys > 0 || p->naggs > 0;
    if (p->aggregate) {
        b->clause = "the select list";
        for (size_t i = 0; i < p->nouts; i++)
            if ((rc = regroup(b, &p->outs[i]))) goto out;
        if (p->having && (rc = regroup(b, &p->having))) goto out;
    } else if (p->having) {
        rc = bad(b, "HAVING needs GROUP BY or an aggregate");
        goto out;
    }

    p->limit = -1;
    if (s->limit_count && (rc = limit_value(b, s->limit_count, "LIMIT", &p->limit))) goto out;
    if (s->limit_offset && (rc = limit_value(b, s->limit_offset, "OFFSET", &p->offset))) goto out;
    if (s->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES)
        rc = bad(b, "FETCH ... WITH TIES is not supported");
out:
    ursa_free(items);
    return rc;
}

int sql_plan(const char *sql, sql_resolve_fn resolve, void *ctx, int64_t now_us, sql_plan_t **out,
             ursa_err_t *err)
{
    *out = NULL;
    PgQueryProtobufParseResult r = pg_query_parse_protobuf(sql);
    if (r.error) {
        int rc = ursa_err_set(err, URSA_EINVAL, "%s (at character %d)", r.error->message, r.error->cursorpos);
        pg_query_free_protobuf_parse_result(r);
        return rc;
    }
    PgQuery__ParseResult *tree =
        pg_query__parse_result__unpack(NULL, r.parse_tree.len, (const uint8_t *)r.parse_tree.data);
    pg_query_free_protobuf_parse_result(r);
    if (!tree) return ursa_err_set(err, URSA_ENOMEM, "out of memory");
    sql_plan_t *p = ursa_calloc(1, sizeof(*p));
    binder_t b = {.p = p, .err = err, .now_us = now_us, .clause = "the query"};
    int rc = URSA_OK;
    if (!p)
        rc = ursa_err_set(err, URSA_ENOMEM, "out of memory");
    else if (tree->n_stmts != 1)
        rc = bad(&b, tree->n_stmts ? "one statement at a time" : "an empty query");
    if (rc == URSA_OK) {
        p->time_col = -1;
        p->ts_lo = INT64_MIN, p->ts_hi = INT64_MAX;
        const node_t *st = tree->stmts[0]->stmt;
        if (st && st->node_case == PG_QUERY__NODE__NODE_EXPLAIN_STMT) {
            p->explain = true;
            st = st->explain_stmt->query;
        }
        if (!st || st->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
            rc = bad(&b, "only SELECT (and EXPLAIN SELECT) queries are supported");
        else
            rc = plan_select(&b, st->select_stmt, resolve, ctx);
    }
    pg_query__parse_result__free_unpacked(tree, NULL);
    if (rc) {
        sql_plan_free(&p);
        return rc;
    }
    *out = p;
    return URSA_OK;
}

void sql_plan_free(sql_plan_t **pp)
{
    sql_plan_t *p = *pp;
    if (!p) return;
    ursa_free(p->dataset);
    ursa_free(p->scan_fields);
    ursa_free(p->scan_types);
    exec_expr_free(p->where);
    for (size_t i = 0; i < p->npreds; i++) {
        for (size_t k = 0; k < p->preds[i].nvals; k++)
            if (p->preds[i].vals[k].type == EXEC_STRING) ursa_free((char *)p->preds[i].vals[k].v.s.p);
        ursa_free(p->preds[i].vals);
    }
    ursa_free(p->preds);
    for (size_t i = 0; i < p->nkeys; i++) exec_expr_free(p->keys[i]);
    ursa_free(p->keys);
    for (size_t i = 0; i < p->naggs; i++) exec_expr_free(p->aggs[i].arg);
    ursa_free(p->aggs);
    exec_expr_free(p->having);
    for (size_t i = 0; i < p->nouts; i++) exec_expr_free(p->outs[i]);
    ursa_free(p->outs);
    for (size_t i = 0; i < p->nvisible; i++) ursa_free(p->names[i]);
    ursa_free(p->names);
    ursa_free(p->order);
    ursa_free(p);
    *pp = NULL;
}
