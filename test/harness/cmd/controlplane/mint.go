package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// mintMain implements `controlplane mint`: a client certificate (CN=name, O=groups) signed
// by the running control plane's client CA, plus a kubeconfig using it. Prints the
// kubeconfig path on stdout.
func mintMain(args []string) int {
	fs := flag.NewFlagSet("controlplane mint", flag.ContinueOnError)
	config := fs.String("config", "", "path of controlplane.json (required)")
	name := fs.String("name", "", "user name, the certificate's CN (required)")
	outDir := fs.String("out-dir", "", "where to write <name>.crt/.key/.kubeconfig (default: <workDir>/users)")
	var groups multiFlag
	fs.Var(&groups, "group", "group, the certificate's O (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *config == "" || *name == "" {
		fmt.Fprintln(os.Stderr, "controlplane mint: --config and --name are required")
		return 2
	}
	b, err := os.ReadFile(*config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane mint:", err)
		return 1
	}
	var inf Info
	if err := json.Unmarshal(b, &inf); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane mint:", err)
		return 1
	}
	if *outDir == "" {
		*outDir = filepath.Join(inf.WorkDir, "users")
	}
	kubeconfig, err := mint(inf, *name, groups, *outDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane mint:", err)
		return 1
	}
	fmt.Println(kubeconfig)
	return 0
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func mint(inf Info, name string, groups []string, outDir string) (string, error) {
	ca, err := loadPair(inf.ClientCACert, inf.ClientCAKey)
	if err != nil {
		return "", err
	}
	caServing, err := os.ReadFile(inf.CACert)
	if err != nil {
		return "", err
	}
	leaf, err := newLeaf(ca, leafSpec{cn: name, orgs: groups, client: true})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", err
	}
	base := filepath.Join(outDir, unsafeChars.ReplaceAllString(name, "_"))
	if _, _, err := leaf.write(base); err != nil {
		return "", err
	}
	servingCA, err := pemToDER(caServing)
	if err != nil {
		return "", err
	}
	kc := base + ".kubeconfig"
	return kc, writeKubeconfig(kc, inf.Server, servingCA, leaf.der, keyPEM(leaf.key), name)
}
