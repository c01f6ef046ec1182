/* schema_json: prints the result schema of src/schema.h as JSON on stdout,
 * for tests/store/test_schema.py, which compares it with
 * tools/distsweep_h5.py and docs/result-file.md. Types are numpy's names
 * ("uint8", "float32", "S32"; "string" for a variable-length string);
 * dimensions are the symbols of docs/result-file.md (n_scales, S, E, n_log);
 * a NaN fill is printed as NaN (Python's json reads it). */
#include <stdio.h>
#include <string.h>

#include "schema.h"

static const char *type_name(ds_elem e) {
    switch (e) {
    case DS_EL_U8: return "uint8";
    case DS_EL_I8: return "int8";
    case DS_EL_I32: return "int32";
    case DS_EL_I64: return "int64";
    case DS_EL_F32: return "float32";
    case DS_EL_F64: return "float64";
    case DS_EL_STR32: return "S32";
    case DS_EL_VLSTR: return "string";
    }
    return "?";
}

static const char *fill_json(ds_fill f) {
    return f == DS_FILL_NAN ? "NaN" : f == DS_FILL_MINUS1 ? "-1" : "0";
}

int main(void) {
    printf("{\n  \"format\": \"%s\", \"format_version\": %d,\n", DS_FORMAT_NAME, DS_FORMAT_VERSION);
    printf("  \"status\": [");
    for (int k = 0; k < DS_N_RUN_STATUS; k++)
        printf("%s\"%s\"", k ? ", " : "", ds_run_status_name(k));
    printf("],\n  \"metrics\": [");
    for (int m = 0; m < DS_N_METRICS; m++) printf("%s\"%s\"", m ? ", " : "", ds_metric_names[m]);
    printf("],\n  \"set_metrics\": [");
    for (int m = 0, k = 0; m < DS_N_METRICS; m++)
        if (ds_metric_name_of(DS_EVAL_SETS, m)) printf("%s\"%s\"", k++ ? ", " : "", ds_metric_name_of(DS_EVAL_SETS, m));
    printf("],\n  \"root_attrs\": [");
    for (int a = 0; a < DS_N_ROOT_ATTRS; a++)
        printf("%s{\"name\": \"%s\", \"type\": \"%s\"}", a ? ", " : "", ds_root_attr_at(a)->name,
               type_name(ds_root_attr_at(a)->elem));
    printf("],\n  \"seed_datasets\": [\n");
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        const ds_seed_dataset *d = ds_seed_dataset_at(i);
        const char *inner = d->inner == DS_INNER_LENGTHS ? ", \"E\""
                            : d->inner == DS_INNER_LOG   ? ", \"n_log\""
                            : d->inner == DS_INNER_EVAL  ? ", \"n_eval\"" : "";
        printf("    {\"path\": \"%s\", \"type\": \"%s\", \"dims\": [\"n_scales\", \"S\"%s], "
               "\"rank\": %d, \"fill\": %s, \"required\": %s}%s\n",
               d->path, type_name(d->elem), inner, d->rank, fill_json(d->fill),
               d->required ? "true" : "false", ",");
    }
    /* the names a file of evaluation sets gives its metric datasets (src/schema.h
     * ds_eval_kind): the same type, shape and fill, required in such files only */
    int first = 1;
    for (int i = 0; i < DS_N_SEED_DS; i++) {
        const ds_seed_dataset *d = ds_seed_dataset_at(i);
        const char *p = ds_seed_dataset_path(i, DS_EVAL_SETS);
        if (!p || !strcmp(p, d->path)) continue;
        printf("%s    {\"path\": \"%s\", \"type\": \"%s\", \"dims\": [\"n_scales\", \"S\", \"%s\"], "
               "\"rank\": %d, \"fill\": %s, \"required\": false}", first ? "" : ",\n", p, type_name(d->elem),
               d->inner == DS_INNER_EVAL ? "n_eval" : "E", d->rank, fill_json(d->fill));
        first = 0;
    }
    printf("\n");
    /* the per-item datasets of a file of evaluation sets, one pair per set */
    printf("  ],\n  \"item_datasets\": [\n");
    for (int i = 0; i < DS_N_ITEM_DS; i++) {
        const ds_item_dataset *d = ds_item_dataset_at(i);
        printf("    {\"path\": \"%s/<set>/%s\", \"type\": \"%s\", \"dims\": [\"n_scales\", \"S\", "
               "\"n_items\"], \"fill\": %s}%s\n", DS_ITEMS_GROUP, d->name, type_name(d->elem),
               fill_json(d->fill), i + 1 < DS_N_ITEM_DS ? "," : "");
    }
    printf("  ],\n  \"fixed_datasets\": [\n");
    for (int c = 0; c <= DS_N_SCALE_COLS + 3; c++) {
        const ds_fixed_dataset *d = c < DS_N_SCALE_COLS ? ds_scale_column(c)
                                    : c == DS_N_SCALE_COLS ? &ds_seeds_dataset
                                    : c == DS_N_SCALE_COLS + 1 ? &ds_eval_lengths_dataset
                                    : c == DS_N_SCALE_COLS + 2 ? &ds_eval_sets_dataset : NULL;
        if (d)
            printf("    {\"path\": \"%s\", \"type\": \"%s\", \"dims\": [\"%s\"], \"required\": %s},\n",
                   d->path, type_name(d->elem), d->dim, d->required ? "true" : "false");
        else
            printf("    {\"path\": \"%s/<name>\", \"type\": \"%s\", \"dims\": [\"k\"], "
                   "\"required\": false}\n", DS_FAMILIES_GROUP, type_name(DS_FAMILY_ELEM));
    }
    printf("  ]\n}\n");
    return 0;
}
