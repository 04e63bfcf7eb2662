package report

import (
	"github.com/connscope/connscope/analyze"
	"github.com/connscope/connscope/analyze/mysql"
	"github.com/connscope/connscope/analyze/postgres"
)

// mysqlApp and pgApp are an attempt's protocol facts as the engine sets
// them; mysqlOf and pgOf read them back.
func mysqlApp(m *mysql.Info) *analyze.App { return &analyze.App{Protocol: "mysql", Info: m} }

func pgApp(p *postgres.Info) *analyze.App { return &analyze.App{Protocol: "postgres", Info: p} }

func mysqlOf(a *analyze.Attempt) *mysql.Info {
	if a == nil || a.App == nil {
		return nil
	}
	m, _ := a.App.Info.(*mysql.Info)
	return m
}

func pgOf(a *analyze.Attempt) *postgres.Info {
	if a == nil || a.App == nil {
		return nil
	}
	p, _ := a.App.Info.(*postgres.Info)
	return p
}
