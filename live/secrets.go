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
// string ("host=h password=X" or password='X y'), and in DSNs that spell it
// the same way (PDO's "pgsql:host=h;password=X").
var conninfoPassword = regexp.MustCompile(`(^|[\s;])(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s;']*)`)

// MaskSecrets returns a copy of a command line with passwords replaced by
// "***": -pSECRET (MySQL clients), --password=SECRET, --password SECRET,
// passwords inside URLs, PGPASSWORD=SECRET and MYSQL_PWD=SECRET (env(1)
// arguments) and password=SECRET in a libpq connection string. Command lines end up in notices, report headings
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
		out[i] = conninfoPassword.ReplaceAllString(out[i], "${1}${2}"+maskedSecret)
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
	}
	return out
}
