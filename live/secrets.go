package live

import (
	"regexp"
	"strings"
)

// maskedSecret replaces a password in a command line shown or recorded.
const maskedSecret = "***"

// passwordOptions take a password as their value (--password=X, or the next
// argument): MySQL/MariaDB clients, mysqladmin, lab/client.php and most
// other tools spell it one of these ways.
var passwordOptions = []string{"--password", "--passwd", "--pass"}

// urlPassword is the password part of a URL's user info (mysql://u:p@h).
var urlPassword = regexp.MustCompile(`(://[^/:@\s]*:)[^@\s]*@`)

// passwordEnv are environment variables that carry a password, seen as
// env(1) arguments (env PGPASSWORD=X psql ...): libpq's, MySQL clients'.
var passwordEnv = []string{"PGPASSWORD", "MYSQL_PWD"}

// conninfoPassword is the password in a libpq keyword/value connection
// string ("host=h password=X" or password = 'X y', spaces allowed around
// '=' as libpq allows), and in DSNs that spell it the same way.
var conninfoPassword = regexp.MustCompile(`(^|[\s;])(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s;']*)`)

// passwordKeywords are key=value passwords: libpq conninfo and PDO DSNs
// (password=, pwd=), environment assignments (env MYSQL_PWD=x mysql).
var passwordKeywords = regexp.MustCompile(`(?i)\b(password|passwd|pwd|mysql_pwd|pgpassword)=('[^']*'|"[^"]*"|[^\s;&'"]+)`)

// sqlPasswords are passwords in SQL statements (-e, -c): IDENTIFIED BY 'x',
// IDENTIFIED WITH plugin BY|AS 'x', PASSWORD('x'), SET PASSWORD ... = 'x',
// PostgreSQL's [ENCRYPTED] PASSWORD 'x'.
var sqlPasswords = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)('[^']*'|"[^"]*")`),
	regexp.MustCompile(`(?i)(\bSET\s+PASSWORD\b[^=;]*=\s*(?:PASSWORD\s*\(\s*)?)('[^']*'|"[^"]*")`),
	regexp.MustCompile(`(?i)(\bPASSWORD\s*\(\s*)('[^']*'|"[^"]*")`),
	regexp.MustCompile(`(?i)(\bPASSWORD\s+)('[^']*')`),
}

// MaskSecrets returns a copy of a command line with passwords replaced by
// "***": -pSECRET (MySQL clients), --password=SECRET, --password SECRET,
// passwords inside URLs, password= keywords (conninfo, DSNs, MYSQL_PWD=,
// PGPASSWORD=) and passwords in SQL statements (IDENTIFIED BY '…',
// PASSWORD('…'), SET PASSWORD = '…', PASSWORD '…'). Command lines end up in notices, report headings
// and the pcapng section comment, none of which may carry a password.
func MaskSecrets(argv []string) []string {
	out := make([]string, len(argv))
	maskNext := false
	for i, a := range argv {
		switch {
		case maskNext:
			out[i] = maskedSecret
			maskNext = false
			continue
		case len(a) > 2 && strings.HasPrefix(a, "-p") && a[2] != '-':
			out[i] = "-p" + maskedSecret
			continue
		}
		out[i] = a
		for _, env := range passwordEnv {
			if strings.HasPrefix(a, env+"=") {
				out[i] = env + "=" + maskedSecret
			}
		}
		out[i] = conninfoPassword.ReplaceAllStringFunc(out[i], func(m string) string {
			sm := conninfoPassword.FindStringSubmatch(m)
			if strings.HasPrefix(sm[3], "'") {
				return sm[1] + sm[2] + "'" + maskedSecret + "'"
			}
			return sm[1] + sm[2] + maskedSecret
		})
		for _, opt := range passwordOptions {
			if a == opt {
				maskNext = true
				break
			}
			if strings.HasPrefix(a, opt+"=") {
				out[i] = opt + "=" + maskedSecret
				break
			}
		}
		out[i] = urlPassword.ReplaceAllString(out[i], "${1}"+maskedSecret+"@")
		out[i] = passwordKeywords.ReplaceAllString(out[i], "${1}="+maskedSecret)
		for _, re := range sqlPasswords {
			out[i] = re.ReplaceAllStringFunc(out[i], func(m string) string {
				sm := re.FindStringSubmatch(m)
				q := sm[2][:1]
				return sm[1] + q + maskedSecret + q
			})
		}
	}
	return out
}
