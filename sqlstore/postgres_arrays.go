package sqlstore

import (
	"context"
	"fmt"
	"reflect"
	"strings"
)

// On PostgreSQL rows may travel column by column as arrays, which a
// statement unnests: any number of rows in one statement of one text.

// pgArrays turns rows of plain values (see snapshot) into one typed array
// per column, for a statement that unnests them into rows, and returns the
// SQL array type of each. Ids travel as text, cast where they are written.
func pgArrays(rows [][]any) (arrays []any, types []string, err error) {
	for c := range rows[0] {
		switch reflect.ValueOf(rows[0][c]).Kind() {
		case reflect.String:
			col := make([]string, len(rows))
			for r, row := range rows {
				if s, ok := row[c].(string); ok {
					col[r] = s
				} else {
					col[r] = reflect.ValueOf(row[c]).String()
				}
			}
			arrays, types = append(arrays, col), append(types, "text[]")
		case reflect.Int, reflect.Int32, reflect.Int64:
			col := make([]int64, len(rows))
			for r, row := range rows {
				col[r] = reflect.ValueOf(row[c]).Int()
			}
			arrays, types = append(arrays, col), append(types, "bigint[]")
		case reflect.Bool:
			col := make([]bool, len(rows))
			for r, row := range rows {
				col[r] = reflect.ValueOf(row[c]).Bool()
			}
			arrays, types = append(arrays, col), append(types, "boolean[]")
		default:
			return nil, nil, fmt.Errorf("column %d holds %T, which has no array form", c, rows[0][c])
		}
	}
	return arrays, types, nil
}

// unnestParams is the parameter list of an unnest of arrays of types.
func unnestParams(types []string) string {
	params := make([]string, len(types))
	for i, t := range types {
		params[i] = "?::" + t
	}
	return strings.Join(params, ", ")
}

// insertColumns writes rows of plain values on PostgreSQL in one statement
// for any number of rows, which travel column by column as arrays.
func (tb *table[T]) insertColumns(ctx context.Context, t *tx, values [][]any) error {
	arrays, types, err := pgArrays(values)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", tb.what, err)
	}
	selected := make([]string, len(tb.columns))
	for i, c := range tb.columns {
		selected[i] = c
		if idColumnNames[c] {
			selected[i] += "::uuid"
		}
	}
	query := "INSERT INTO " + tb.name + " (" + strings.Join(tb.columns, ", ") + ") SELECT " + strings.Join(selected, ", ") +
		" FROM unnest(" + unnestParams(types) + ") AS v(" + strings.Join(tb.columns, ", ") + ")"
	return t.execLater(ctx, tb.kind, query, arrays...)
}
