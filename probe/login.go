package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
)

// Credentials for --user. The password is used for the login only: no
// report field holds it.
type Credentials struct {
	User     string
	Password string
	// PasswordFrom says where the password came from, for the report:
	// "MYSQL_PWD", "PGPASSWORD", "prompt" or "none".
	PasswordFrom string
	Database     string
}

// Login is the result of one real login.
type Login struct {
	User         string
	Database     string
	PasswordFrom string
	Outcome      string // ok, auth_failed, tls_failed, rejected, error
	Code         int    // MySQL error number (1045, 1044, 1698, 2026 for TLS required but not offered)
	SQLState     string
	Message      string
	TLS          bool   // the login ran over TLS
	TLSVersion   string // "TLS 1.3"
	CertSubject  string
	CertVerified string // "verified against the system's roots" or why not
	Time         time.Duration
}

func init() {
	// The driver logs some failures to standard error on its own; the
	// probe reports every error it returns.
	gomysql.SetLogger(discardLogger{})
}

type discardLogger struct{}

func (discardLogger) Print(...any) {}

// tlsRecorder returns a TLS config that accepts any certificate (the probe
// says whether it verifies, instead of failing on it) and records it.
func tlsRecorder(serverName string, l *Login) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         serverName,
		VerifyConnection: func(cs tls.ConnectionState) error {
			l.TLS = true
			l.TLSVersion = tls.VersionName(cs.Version)
			if len(cs.PeerCertificates) == 0 {
				l.CertVerified = "the server sent no certificate"
				return nil
			}
			cert := cs.PeerCertificates[0]
			l.CertSubject = cert.Subject.String()
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			opts := x509.VerifyOptions{Intermediates: inter}
			if serverName != "" && net.ParseIP(serverName) == nil {
				opts.DNSName = serverName
			}
			if _, err := cert.Verify(opts); err != nil {
				l.CertVerified = "not verified: " + err.Error()
			} else {
				l.CertVerified = "verified against the system's roots"
			}
			return nil
		},
	}
}

// loginMySQL logs in over network/addr with the go-sql-driver, then quits.
// requireTLS fails the login when the server offers no TLS (as the client
// error 2026); otherwise TLS is used when offered.
func loginMySQL(ctx context.Context, network, addr, serverName string, cr Credentials, requireTLS bool, timeout time.Duration) *Login {
	l := &Login{User: cr.User, Database: cr.Database, PasswordFrom: cr.PasswordFrom}
	cfg := gomysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = cr.User, cr.Password, cr.Database
	cfg.Net, cfg.Addr = network, addr
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = timeout, timeout, timeout
	cfg.Logger = discardLogger{}
	if network != "unix" {
		cfg.TLS = tlsRecorder(serverName, l)
		cfg.AllowFallbackToPlaintext = !requireTLS
	}
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		l.Outcome, l.Message = OutcomeError, "cannot configure the MySQL driver: "+err.Error()
		return l
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	c, err := conn.Connect(cctx)
	l.Time = time.Since(start)
	if err == nil {
		c.Close() // COM_QUIT
		l.Outcome = OutcomeOK
		return l
	}
	var me *gomysql.MySQLError
	switch {
	case errors.As(err, &me):
		l.Code, l.SQLState, l.Message = int(me.Number), string(me.SQLState[:]), me.Message
		if strings.Trim(l.SQLState, "\x00") == "" {
			l.SQLState = ""
		}
		switch {
		case mysql.IsAuthError(me.Number):
			l.Outcome = OutcomeAuthFailed
		default:
			l.Outcome = OutcomeRejected
		}
	case errors.Is(err, gomysql.ErrNoTLS):
		l.Outcome, l.Code = OutcomeTLSFailed, 2026
		l.Message = "TLS is required (--tls) but the server does not offer it (its greeting lacks CLIENT_SSL)"
	case errors.Is(err, gomysql.ErrUnknownPlugin), errors.Is(err, gomysql.ErrCleartextPassword), errors.Is(err, gomysql.ErrOldPassword):
		l.Outcome, l.Message = OutcomeAuthFailed, "the account's authentication plugin is one this client does not speak: "+err.Error()
	default:
		var te *tls.CertificateVerificationError
		if errors.As(err, &te) || strings.Contains(err.Error(), "tls:") {
			l.Outcome = OutcomeTLSFailed
		} else {
			l.Outcome = OutcomeError
		}
		l.Message = err.Error()
	}
	return l
}

// loginPG logs in with pgconn, over TLS when the server answered 'S' to
// the probe's SSLRequest (or failing at once when --tls requires it and it
// answered 'N'), one connect, no fallbacks.
func loginPG(ctx context.Context, network, addr, serverName string, cr Credentials, answer byte, requireTLS bool, timeout time.Duration) *Login {
	l := &Login{User: cr.User, Database: cr.Database, PasswordFrom: cr.PasswordFrom}
	if l.Database == "" {
		l.Database = cr.User
	}
	if requireTLS && answer != 'S' {
		l.Outcome = OutcomeTLSFailed
		l.Message = "TLS is required (--tls) but the server answered the SSLRequest with N: server does not support SSL"
		return l
	}
	cfg, err := pgconn.ParseConfig("sslmode=disable")
	if err != nil {
		l.Outcome, l.Message = OutcomeError, "cannot configure the PostgreSQL driver: "+err.Error()
		return l
	}
	if network == "unix" {
		dir, file := filepath.Split(addr)
		cfg.Host = strings.TrimSuffix(dir, "/")
		if p, ok := pgSocketPort(file); ok {
			cfg.Port = uint16(p)
		}
	} else {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		cfg.Host, cfg.Port = host, uint16(p)
	}
	cfg.User, cfg.Password, cfg.Database = cr.User, cr.Password, l.Database
	cfg.ConnectTimeout = timeout
	cfg.Fallbacks = nil
	cfg.RuntimeParams = map[string]string{"application_name": "connscope probe"}
	if answer == 'S' {
		cfg.TLSConfig = tlsRecorder(serverName, l)
	} else {
		cfg.TLSConfig = nil
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	c, err := pgconn.ConnectConfig(cctx, cfg)
	l.Time = time.Since(start)
	if err == nil {
		c.Close(cctx)
		l.Outcome = OutcomeOK
		return l
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		l.SQLState, l.Message = pe.Code, pe.Message
		l.Outcome = OutcomeRejected
		switch pe.Code {
		case "28P01", "28000", "3D000":
			l.Outcome = OutcomeAuthFailed
			if pe.Code == "28000" && strings.Contains(pe.Message, "pg_hba.conf") {
				l.Outcome = OutcomeRejected
			}
		}
		if s, ok := postgres.SQLStateInfo(pe.Code); ok && s.ID != "" {
			l.Message = fmt.Sprintf("%s (%s)", pe.Message, s.ID)
		}
		return l
	}
	l.Outcome, l.Message = OutcomeError, err.Error()
	return l
}
