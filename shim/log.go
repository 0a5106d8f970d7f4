package shim

import (
	"context"
	"log/slog"

	"github.com/containerd/log"
)

// logHandler sends the library's slog records to the shim's logger
// (logrus, writing to the log FIFO containerd reads into its own log).
type logHandler struct {
	entry *log.Entry
	attrs []slog.Attr
}

func newLogHandler(e *log.Entry) *logHandler { return &logHandler{entry: e} }

func logrusLevel(l slog.Level) log.Level {
	switch {
	case l >= slog.LevelError:
		return log.ErrorLevel
	case l >= slog.LevelWarn:
		return log.WarnLevel
	case l >= slog.LevelInfo:
		return log.InfoLevel
	}
	return log.DebugLevel
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.entry.Logger.IsLevelEnabled(logrusLevel(l))
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	fields := log.Fields{}
	for _, a := range h.attrs {
		fields[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		fields[a.Key] = a.Value.Any()
		return true
	})
	h.entry.WithFields(fields).Log(logrusLevel(r.Level), r.Message)
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{entry: h.entry, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

// WithGroup is not used by the library; groups are flattened.
func (h *logHandler) WithGroup(string) slog.Handler { return h }
