package aggregate

import (
	"encoding/json"
	"strconv"
	"time"
)

// appendReports appends the reports as a JSON array.
func appendReports(dst []byte, rs []BackendReport) []byte {
	dst = append(dst, '[')
	for i := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = rs[i].appendJSON(dst)
	}
	return append(dst, ']')
}

// appendJSON appends r as a JSON object, as MarshalJSON does.
func (r *BackendReport) appendJSON(dst []byte) []byte {
	dst = appendJSONString(append(dst, `{"name":`...), r.Name)
	dst = appendJSONString(append(dst, `,"outcome":`...), string(r.Outcome))
	if r.Status != 0 {
		dst = strconv.AppendInt(append(dst, `,"status":`...), int64(r.Status), 10)
	}
	dst = formatMillis(append(dst, `,"latency_ms":`...), r.Latency)
	if r.Error != "" {
		dst = appendJSONString(append(dst, `,"error":`...), r.Error)
	}
	if r.Required {
		dst = append(dst, `,"required":true`...)
	}
	if r.Hedged {
		dst = append(dst, `,"hedged":true`...)
	}
	return append(dst, '}')
}

// MarshalJSON writes the report with its Latency as "latency_ms".
func (r BackendReport) MarshalJSON() ([]byte, error) {
	return r.appendJSON(nil), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *BackendReport) UnmarshalJSON(data []byte) error {
	type plain BackendReport // without methods
	var v struct {
		plain
		LatencyMS float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*r = BackendReport(v.plain)
	r.Latency = time.Duration(v.LatencyMS * float64(time.Millisecond))
	return nil
}
