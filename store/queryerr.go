package store

import (
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/pushpipe/pushpipe/schema"
)

// permanentQueryCodes are ClickHouse exception codes that a query gets
// again however often it is retried: its text or its values are wrong,
// not the server's state.
var permanentQueryCodes = map[int32]bool{
	6:   true, // CANNOT_PARSE_TEXT
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	36:  true, // BAD_ARGUMENTS
	43:  true, // ILLEGAL_TYPE_OF_ARGUMENT
	44:  true, // ILLEGAL_COLUMN
	53:  true, // TYPE_MISMATCH
	62:  true, // SYNTAX_ERROR (also "Max query size exceeded")
	69:  true, // ARGUMENT_OUT_OF_BOUND
	131: true, // TOO_LARGE_STRING_SIZE
	386: true, // NO_COMMON_TYPE
}

// IsPermanentQueryError reports whether err carries a ClickHouse exception
// that retrying the same query cannot cure. Network errors, timeouts and
// server load are not permanent.
func IsPermanentQueryError(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && permanentQueryCodes[ex.Code]
}

// invalid returns a *schema.ValidationError with the result code and what
// to fix, as schema's own validations do.
func invalid(code schema.ResultCode, format string, args ...any) *schema.ValidationError {
	return &schema.ValidationError{Code: code, Detail: fmt.Sprintf(format, args...)}
}
