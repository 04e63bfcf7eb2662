package postgres

import "github.com/connscope/connscope/analyze/proto"

// AppendJSON writes the "postgres" object as encoding/json does
// (proto.JSONAppender): the report's fast path, which otherwise sends
// every PostgreSQL attempt through encoding/json (TestAppendJSONMatches
// checks the two agree for every combination of set fields).
func (i *Info) AppendJSON(b []byte) []byte {
	start := len(b)
	b = append(b, '{')
	str := func(key, v string) {
		if v == "" {
			return
		}
		if len(b) > start+1 {
			b = append(b, ',')
		}
		b = proto.AppendJSONString(append(b, key...), v)
	}
	flag := func(key string, v bool) {
		if !v {
			return
		}
		if len(b) > start+1 {
			b = append(b, ',')
		}
		b = append(append(b, key...), "true"...)
	}
	str(`"user":`, i.User)
	str(`"database":`, i.Database)
	str(`"application_name":`, i.ApplicationName)
	str(`"protocol":`, i.Protocol)
	flag(`"ssl_requested":`, i.SSLRequested)
	flag(`"gssenc_requested":`, i.GSSENCRequested)
	str(`"ssl_answer":`, i.SSLAnswer)
	flag(`"encrypted":`, i.Encrypted)
	str(`"auth_method":`, i.AuthMethod)
	str(`"server_version":`, i.ServerVersion)
	str(`"severity":`, i.Severity)
	str(`"sqlstate":`, i.SQLState)
	str(`"error_message":`, i.ErrorMessage)
	flag(`"error_message_cut":`, i.ErrorMessageCut)
	return append(b, '}')
}
