package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// The kube-apiserver's admission configuration (--admission-control-config-file), written when
// the launcher is asked for something only that file can configure: a client certificate the
// apiserver presents to webhooks (--webhook-client-cert), so a webhook can require it
// (driftgate's `serve --client-ca`). Or taken as given (--admission-config): a file someone else
// wrote, e.g. `driftgate manifests --static`, whose staticManifestsDir registers webhooks from
// files the API cannot delete. The two are exclusive: the apiserver reads one such file.

// admissionOptions are the launcher flags that end up in the admission configuration.
type admissionOptions struct {
	// webhookClientCN, when set, mints a client certificate with this CN, signed by a CA of its
	// own (webhook-client-ca), for the apiserver to present to every webhook.
	webhookClientCN string
	// webhookClientHosts are the kubeconfig user names the certificate is offered to: a webhook
	// host ("127.0.0.1", "driftgate.driftgate-system.svc:443") or "*" for every webhook.
	webhookClientHosts multiFlag
	// configFile, when set, is an AdmissionConfiguration to pass to the apiserver as it is.
	configFile string
}

func (o *admissionOptions) wanted() bool { return o.webhookClientCN != "" || o.configFile != "" }

// webhookAdmissionConfiguration is apiserver.config.k8s.io/v1 WebhookAdmissionConfiguration.
type webhookAdmissionConfiguration struct {
	APIVersion     string `json:"apiVersion"`
	Kind           string `json:"kind"`
	KubeConfigFile string `json:"kubeConfigFile,omitempty"`
}

type admissionPlugin struct {
	Name          string                        `json:"name"`
	Configuration webhookAdmissionConfiguration `json:"configuration"`
}

type admissionConfiguration struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Plugins    []admissionPlugin `json:"plugins"`
}

// writeAdmissionConfig writes the PKI and files the options ask for into dir, records them in
// inf, and returns the kube-apiserver flag that loads them (none when nothing was asked).
func writeAdmissionConfig(dir string, o *admissionOptions, inf *Info) ([]string, error) {
	if !o.wanted() {
		return nil, nil
	}
	if o.configFile != "" {
		return givenAdmissionConfig(o, inf)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	webhook := webhookAdmissionConfiguration{APIVersion: "apiserver.config.k8s.io/v1", Kind: "WebhookAdmissionConfiguration"}
	if o.webhookClientCN != "" {
		clientCA, err := newCA("driftgate-test-webhook-client-ca")
		if err != nil {
			return nil, err
		}
		leaf, err := newLeaf(clientCA, leafSpec{cn: o.webhookClientCN, client: true})
		if err != nil {
			return nil, err
		}
		if inf.WebhookClientCACert, inf.WebhookClientCAKey, err = clientCA.write(filepath.Join(dir, "webhook-client-ca")); err != nil {
			return nil, err
		}
		if inf.WebhookClientCert, inf.WebhookClientKey, err = leaf.write(filepath.Join(dir, "webhook-client")); err != nil {
			return nil, err
		}
		hosts := []string(o.webhookClientHosts)
		if len(hosts) == 0 {
			hosts = []string{"*"}
		}
		kc := filepath.Join(dir, "webhook-clients.kubeconfig")
		if err := writeWebhookKubeconfig(kc, hosts, leaf); err != nil {
			return nil, err
		}
		webhook.KubeConfigFile = kc
	}
	cfg := admissionConfiguration{APIVersion: "apiserver.config.k8s.io/v1", Kind: "AdmissionConfiguration"}
	for _, plugin := range []string{"ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"} {
		cfg.Plugins = append(cfg.Plugins, admissionPlugin{Name: plugin, Configuration: webhook})
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	inf.AdmissionConfig = filepath.Join(dir, "admission-config.json")
	if err := os.WriteFile(inf.AdmissionConfig, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return []string{"--admission-control-config-file=" + inf.AdmissionConfig}, nil
}

// writeWebhookKubeconfig writes the kubeconfig the apiserver reads webhook client credentials
// from: one user entry per host, all with the same certificate. Only `users` matters there.
func writeWebhookKubeconfig(path string, hosts []string, leaf *keyPair) error {
	type authInfo struct {
		ClientCertificateData []byte `json:"client-certificate-data"`
		ClientKeyData         []byte `json:"client-key-data"`
	}
	type namedUser struct {
		Name string   `json:"name"`
		User authInfo `json:"user"`
	}
	cfg := struct {
		APIVersion string      `json:"apiVersion"`
		Kind       string      `json:"kind"`
		Users      []namedUser `json:"users"`
	}{APIVersion: "v1", Kind: "Config"}
	for _, h := range hosts {
		if h == "" {
			return fmt.Errorf("--webhook-client-host: empty")
		}
		cfg.Users = append(cfg.Users, namedUser{Name: h, User: authInfo{ClientCertificateData: certPEM(leaf.der), ClientKeyData: keyPEM(leaf.key)}})
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// givenAdmissionConfig checks the --admission-config file before the apiserver does (which would
// only say so in its log, after the launcher's readiness wait) and records it in inf.
func givenAdmissionConfig(o *admissionOptions, inf *Info) ([]string, error) {
	if o.webhookClientCN != "" {
		return nil, fmt.Errorf("--admission-config and --webhook-client-cert both configure the apiserver's one admission configuration file; give the client certificate's kubeConfigFile in the file instead")
	}
	if !filepath.IsAbs(o.configFile) {
		return nil, fmt.Errorf("--admission-config %q: give an absolute path (the apiserver resolves the paths inside it on its own)", o.configFile)
	}
	if _, err := os.Stat(o.configFile); err != nil {
		return nil, fmt.Errorf("--admission-config: %w", err)
	}
	inf.AdmissionConfig = o.configFile
	return []string{"--admission-control-config-file=" + o.configFile}, nil
}
