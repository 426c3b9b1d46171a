// Command controlplane runs a throw-away etcd + kube-apiserver for driftgate's tests.
//
//	controlplane [--bin-dir DIR] [--work-dir DIR] [--keep] [--watch-stdin auto|true|false]
//	             [--timeout 3m] [--apiserver-arg=--flag=value]... [--etcd-arg=--flag=value]...
//	             [--controller-manager=true|false] [--controller-manager-arg=--flag=value]...
//	             [--webhook-client-cert CN [--webhook-client-host HOST]...]
//	controlplane mint --config CONTROLPLANE.json --name USER [--group G]... [--out-dir DIR]
//
// It generates its own PKI, starts etcd and kube-apiserver on free loopback ports, waits
// for /readyz, starts kube-controller-manager (unless --controller-manager=false) and waits for
// its first work, writes <work-dir>/admin.kubeconfig and <work-dir>/controlplane.json, and
// prints exactly one line on stdout:
//
//	READY <absolute path of controlplane.json>
//
// It stops both servers and removes the work dir on SIGTERM/SIGINT/SIGHUP, on EOF of its
// standard input (when stdin is a pipe or socket: the parent holds the other end), and
// when its parent process dies. Everything else (progress, errors) goes to stderr; the
// servers' output goes to log files in the work dir. Exit status: 0 after a requested
// stop, 1 if startup failed or a server died.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const tempPrefix = "driftgate-cp-"

// Info is the content of controlplane.json.
type Info struct {
	Server                string            `json:"server"`
	Kubeconfig            string            `json:"kubeconfig"`
	CACert                string            `json:"caCert"`
	CAKey                 string            `json:"caKey"`
	ClientCACert          string            `json:"clientCaCert"`
	ClientCAKey           string            `json:"clientCaKey"`
	AdminCert             string            `json:"adminCert"`
	AdminKey              string            `json:"adminKey"`
	ServiceAccountKey     string            `json:"serviceAccountKey"`
	ServiceAccountPub     string            `json:"serviceAccountPublicKey"`
	ServiceAccountIssuer  string            `json:"serviceAccountIssuer"`
	Etcd                  string            `json:"etcd"`
	Kubectl               string            `json:"kubectl"`
	KubeAPIServer         string            `json:"kubeApiserver"`
	KubeControllerManager string            `json:"kubeControllerManager,omitempty"`
	EtcdBinary            string            `json:"etcdBinary"`
	Version               string            `json:"version"`
	WorkDir               string            `json:"workDir"`
	Logs                  map[string]string `json:"logs"`
	PIDs                  map[string]int    `json:"pids"`
	// Set with --webhook-client-cert (admission.go): what the apiserver presents to webhooks.
	// AdmissionConfig is also set, alone, by --admission-config.
	AdmissionConfig     string `json:"admissionConfig,omitempty"`
	WebhookClientCACert string `json:"webhookClientCaCert,omitempty"`
	WebhookClientCAKey  string `json:"webhookClientCaKey,omitempty"`
	WebhookClientCert   string `json:"webhookClientCert,omitempty"`
	WebhookClientKey    string `json:"webhookClientKey,omitempty"`
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "controlplane: "+format+"\n", args...)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "mint" {
		os.Exit(mintMain(os.Args[2:]))
	}
	os.Exit(run())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() int {
	// Ask for SIGTERM on our parent's death before anything else, then remember the
	// parent: if it is already gone, Getppid() no longer matches and the watcher fires.
	askSignalOnParentDeath()
	ppid := os.Getppid()

	self, _ := os.Executable()
	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	binDir := fs.String("bin-dir", envOr("DRIFTGATE_CP_BIN_DIR", filepath.Dir(self)), "directory holding kube-apiserver, etcd, kubectl (env DRIFTGATE_CP_BIN_DIR; default: this program's directory)")
	workDir := fs.String("work-dir", os.Getenv("DRIFTGATE_CP_WORK_DIR"), "work dir, must be absent or empty; removed on exit (env DRIFTGATE_CP_WORK_DIR; default: a new temp dir)")
	keep := fs.Bool("keep", os.Getenv("DRIFTGATE_CP_KEEP") != "", "keep the work dir on exit (env DRIFTGATE_CP_KEEP=1)")
	watchStdin := fs.String("watch-stdin", "auto", "stop on stdin EOF: auto (only if stdin is a pipe or socket), true, false")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for etcd and kube-apiserver to be ready")
	var apiArgs, etcdArgs multiFlag
	fs.Var(&apiArgs, "apiserver-arg", "extra kube-apiserver flag (repeatable), e.g. --apiserver-arg=--v=4")
	fs.Var(&etcdArgs, "etcd-arg", "extra etcd flag (repeatable)")
	var kcmArgs multiFlag
	fs.Var(&kcmArgs, "controller-manager-arg", "extra kube-controller-manager flag (repeatable)")
	withKCM := fs.Bool("controller-manager", os.Getenv("DRIFTGATE_CP_NO_KCM") == "", "start kube-controller-manager (env DRIFTGATE_CP_NO_KCM=1 turns it off)")
	var admission admissionOptions
	fs.StringVar(&admission.webhookClientCN, "webhook-client-cert", "", "mint a client certificate with this CN (own CA) that the apiserver presents to webhooks, through an AdmissionConfiguration kubeConfigFile")
	fs.Var(&admission.webhookClientHosts, "webhook-client-host", "webhook host the certificate is offered to (repeatable; default *, every webhook)")
	fs.StringVar(&admission.configFile, "admission-config", "", "pass this AdmissionConfiguration to the apiserver as is (absolute path), e.g. the one `driftgate manifests --static` wrote; not with --webhook-client-cert")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		logf("unexpected arguments: %v", fs.Args())
		return 2
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	watchStop(ctx, cancel, ppid, *watchStdin)

	removeStaleTempDirs()

	cp := &controlPlane{keep: *keep, apiArgs: apiArgs, etcdArgs: etcdArgs, kcmArgs: kcmArgs, withKCM: *withKCM, admission: admission}
	err := cp.start(ctx, *binDir, *workDir, *timeout)
	if err == nil {
		fmt.Printf("READY %s\n", cp.infoPath)
		logf("ready: %s (work dir %s)", cp.info.Server, cp.dir)
		select {
		case <-ctx.Done():
			logf("stopping: %v", context.Cause(ctx))
		case <-cp.etcd.done:
			err = cp.etcd.exitErr()
		case <-cp.api.done:
			err = cp.api.exitErr()
		case <-cp.kcmDone():
			err = cp.kcm.exitErr()
		}
	}
	if err != nil {
		logf("error: %v", err)
		for _, p := range []*proc{cp.kcm, cp.api, cp.etcd} {
			if p != nil && !errors.Is(err, errStopped) && (p.exited() || !cp.ready) {
				if t := tailFile(p.log, 30); t != "" {
					logf("last lines of %s:\n%s", p.log, t)
				}
			}
		}
	}
	cp.shutdown()
	if err != nil {
		return 1
	}
	return 0
}

// watchStop cancels ctx on a signal, on stdin EOF, or when the parent process changes.
func watchStop(ctx context.Context, cancel context.CancelCauseFunc, ppid int, stdinMode string) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		select {
		case s := <-sigs:
			cancel(fmt.Errorf("got signal %v", s))
		case <-ctx.Done():
		}
	}()

	watch := stdinMode == "true"
	if stdinMode == "auto" {
		if st, err := os.Stdin.Stat(); err == nil {
			m := st.Mode()
			watch = m&os.ModeNamedPipe != 0 || m&os.ModeSocket != 0
		}
	}
	if watch {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel(fmt.Errorf("stdin closed"))
		}()
	}

	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != ppid {
					cancel(fmt.Errorf("parent process %d exited", ppid))
					return
				}
			}
		}
	}()
}

// removeStaleTempDirs removes temp work dirs left by instances that were SIGKILLed.
func removeStaleTempDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "controlplane.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
}

type controlPlane struct {
	keep              bool
	apiArgs, etcdArgs []string
	kcmArgs           []string
	withKCM           bool
	admission         admissionOptions
	admissionArgs     []string
	dir               string
	ownsDir           bool
	etcd, api, kcm    *proc
	info              Info
	infoPath          string
	ready             bool
}

// kcmDone is closed when kube-controller-manager exits; never, when it was not started.
func (cp *controlPlane) kcmDone() <-chan struct{} {
	if cp.kcm == nil {
		return nil
	}
	return cp.kcm.done
}

func (cp *controlPlane) shutdown() {
	cp.kcm.stop(5 * time.Second)
	cp.api.stop(5 * time.Second)
	cp.etcd.stop(5 * time.Second)
	if cp.dir != "" && cp.ownsDir && !cp.keep {
		if err := os.RemoveAll(cp.dir); err != nil {
			logf("remove %s: %v", cp.dir, err)
		}
	} else if cp.dir != "" {
		logf("kept %s", cp.dir)
	}
}

func (cp *controlPlane) start(ctx context.Context, binDir, workDir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	bins := map[string]string{}
	needed := []string{"kube-apiserver", "etcd", "kubectl"}
	if cp.withKCM {
		needed = append(needed, "kube-controller-manager")
	}
	for _, b := range needed {
		p := filepath.Join(binDir, b)
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return fmt.Errorf("%s not found or not executable (run test/harness/build.sh; --bin-dir=%s)", p, binDir)
		}
		bins[b] = p
	}

	if workDir == "" {
		if workDir, err = os.MkdirTemp("", tempPrefix); err != nil {
			return err
		}
	} else {
		if workDir, err = filepath.Abs(workDir); err != nil {
			return err
		}
		if entries, err := os.ReadDir(workDir); err == nil && len(entries) > 0 {
			return fmt.Errorf("work dir %s is not empty", workDir)
		}
		if err := os.MkdirAll(workDir, 0o755); err != nil {
			return err
		}
	}
	cp.dir, cp.ownsDir = workDir, true
	if err := os.WriteFile(filepath.Join(workDir, "controlplane.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}

	// --- PKI ---
	pkiDir := filepath.Join(workDir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return err
	}
	ca, err := newCA("driftgate-test-ca")
	if err != nil {
		return err
	}
	clientCA, err := newCA("driftgate-test-client-ca")
	if err != nil {
		return err
	}
	serving, err := newLeaf(ca, leafSpec{
		cn:     "kube-apiserver",
		dns:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		ips:    []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		server: true,
	})
	if err != nil {
		return err
	}
	admin, err := newLeaf(clientCA, leafSpec{cn: "admin", orgs: []string{"system:masters"}, client: true})
	if err != nil {
		return err
	}
	saKey, err := newKey()
	if err != nil {
		return err
	}
	inf := &cp.info
	if inf.CACert, inf.CAKey, err = ca.write(filepath.Join(pkiDir, "ca")); err != nil {
		return err
	}
	if inf.ClientCACert, inf.ClientCAKey, err = clientCA.write(filepath.Join(pkiDir, "client-ca")); err != nil {
		return err
	}
	servingCert, servingKey, err := serving.write(filepath.Join(pkiDir, "apiserver"))
	if err != nil {
		return err
	}
	if inf.AdminCert, inf.AdminKey, err = admin.write(filepath.Join(pkiDir, "admin")); err != nil {
		return err
	}
	inf.ServiceAccountKey = filepath.Join(pkiDir, "sa.key")
	inf.ServiceAccountPub = filepath.Join(pkiDir, "sa.pub")
	if err := os.WriteFile(inf.ServiceAccountKey, keyPEM(saKey), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(inf.ServiceAccountPub, publicKeyPEM(&saKey.PublicKey), 0o644); err != nil {
		return err
	}

	if cp.admissionArgs, err = writeAdmissionConfig(filepath.Join(workDir, "admission"), &cp.admission, inf); err != nil {
		return err
	}

	inf.Kubectl, inf.KubeAPIServer, inf.EtcdBinary = bins["kubectl"], bins["kube-apiserver"], bins["etcd"]
	inf.WorkDir = workDir
	inf.Logs = map[string]string{
		"etcd":          filepath.Join(workDir, "etcd.log"),
		"kubeApiserver": filepath.Join(workDir, "kube-apiserver.log"),
	}
	if cp.withKCM {
		inf.Logs["kubeControllerManager"] = filepath.Join(workDir, "kube-controller-manager.log")
	}

	// --- etcd (retried: a free port can be taken between picking and binding) ---
	for attempt := 1; ; attempt++ {
		if err := cp.startEtcd(ctx, deadline); err == nil {
			break
		} else if ctx.Err() != nil || attempt == 3 || time.Now().After(deadline) {
			return err
		} else {
			logf("etcd attempt %d failed (%v), retrying", attempt, err)
		}
	}

	// --- kube-apiserver ---
	httpClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:      certPool(ca),
			Certificates: []tls.Certificate{{Certificate: [][]byte{admin.der}, PrivateKey: admin.key}},
		},
	}}
	for attempt := 1; ; attempt++ {
		err := cp.startAPIServer(ctx, deadline, httpClient, servingCert, servingKey)
		if err == nil {
			break
		} else if ctx.Err() != nil || attempt == 3 || time.Now().After(deadline) || !logMentions(cp.api.log, "address already in use") {
			return err
		}
		logf("kube-apiserver attempt %d failed (%v), retrying", attempt, err)
	}

	// --- admin kubeconfig, version, controlplane.json ---
	inf.Kubeconfig = filepath.Join(workDir, "admin.kubeconfig")
	if err := writeKubeconfig(inf.Kubeconfig, inf.Server, ca.der, admin.der, keyPEM(admin.key), "admin"); err != nil {
		return err
	}
	if resp, err := httpClient.Get(inf.Server + "/version"); err == nil {
		var v struct {
			GitVersion string `json:"gitVersion"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		inf.Version = v.GitVersion
	}
	// --- kube-controller-manager (needs the admin kubeconfig written above) ---
	if cp.withKCM {
		if err := cp.startControllerManager(ctx, deadline, httpClient, bins["kube-controller-manager"]); err != nil {
			return err
		}
	}
	inf.PIDs = map[string]int{"controlplane": os.Getpid(), "etcd": cp.etcd.pid(), "kubeApiserver": cp.api.pid()}
	if cp.kcm != nil {
		inf.PIDs["kubeControllerManager"] = cp.kcm.pid()
	}
	cp.infoPath = filepath.Join(workDir, "controlplane.json")
	b, _ := json.MarshalIndent(inf, "", "  ")
	if err := os.WriteFile(cp.infoPath+".tmp", append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(cp.infoPath+".tmp", cp.infoPath); err != nil {
		return err
	}
	cp.ready = true
	return nil
}

func (cp *controlPlane) startEtcd(ctx context.Context, deadline time.Time) error {
	cp.etcd.stop(5 * time.Second)
	dataDir := filepath.Join(cp.dir, "etcd")
	_ = os.RemoveAll(dataDir)
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	args := []string{
		"--name=driftgate",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=driftgate=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync", // test data only
		"--log-level=warn",
	}
	args = append(args, cp.etcdArgs...)
	if cp.etcd, err = startProc("etcd", cp.info.EtcdBinary, args, cp.info.Logs["etcd"]); err != nil {
		return err
	}
	cp.info.Etcd = client
	hc := &http.Client{Timeout: 2 * time.Second}
	return poll(ctx, deadline, cp.etcd, func() (bool, string) {
		resp, err := hc.Get(client + "/health")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(body), `"true"`), string(body)
	})
}

func (cp *controlPlane) startAPIServer(ctx context.Context, deadline time.Time, hc *http.Client, servingCert, servingKey string) error {
	cp.api.stop(5 * time.Second)
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	port := ports[0]
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	certDir := filepath.Join(cp.dir, "apiserver-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return err
	}
	inf := &cp.info
	inf.Server, inf.ServiceAccountIssuer = server, server
	args := []string{
		"--etcd-servers=" + inf.Etcd,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + certDir,
		"--tls-cert-file=" + servingCert,
		"--tls-private-key-file=" + servingKey,
		"--client-ca-file=" + inf.ClientCACert,
		"--service-account-issuer=" + server,
		"--service-account-key-file=" + inf.ServiceAccountPub,
		"--service-account-signing-key-file=" + inf.ServiceAccountKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
	}
	if !cp.withKCM {
		// No service-account controller: no `default` ServiceAccount for the plugin to find.
		args = append(args, "--disable-admission-plugins=ServiceAccount")
	}
	args = append(args, cp.admissionArgs...)
	args = append(args, cp.apiArgs...)
	if cp.api, err = startProc("kube-apiserver", inf.KubeAPIServer, args, inf.Logs["kubeApiserver"]); err != nil {
		return err
	}
	return poll(ctx, deadline, cp.api, func() (bool, string) {
		resp, err := hc.Get(server + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
	})
}

// poll calls check until it succeeds, p exits, ctx ends or the deadline passes.
func poll(ctx context.Context, deadline time.Time, p *proc, check func() (bool, string)) error {
	last := ""
	for {
		ok, detail := check()
		if ok {
			return nil
		}
		last = detail
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready before the timeout; last check: %s", p.name, strings.TrimSpace(last))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", errStopped, context.Cause(ctx))
		case <-p.done:
			return p.exitErr()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func certPool(kps ...*keyPair) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, kp := range kps {
		pool.AddCert(kp.cert)
	}
	return pool
}

func writeKubeconfig(path, server string, caDER, certDER, keyPEMBytes []byte, user string) error {
	b64 := base64.StdEncoding.EncodeToString
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: driftgate-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %q
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: %q
  context:
    cluster: driftgate-test
    user: %q
current-context: %q
`, server, b64(certPEM(caDER)), user, b64(certPEM(certDER)), b64(keyPEMBytes), user, user, user)
	return os.WriteFile(path, []byte(cfg), 0o600)
}
