// Command celcheck answers, for one webhook's matchConditions and one AdmissionRequest, what the
// kube-apiserver would do: skip the webhook, call it, or refuse the write because a condition
// failed. It runs the apiserver's own code for it (k8s.io/apiserver's webhook accessor, condition
// compiler, matcher and cost budget), so that driftgate's differential test checks the rendered
// CEL against the implementation that will run it, not against a reimplementation.
//
// Protocol: one JSON object per line on stdin, one answer per line on stdout, in order.
//
//	{"define":"k","webhook":{"name":…,"failurePolicy":"Fail","matchConditions":[…]}}
//	  → {"define":"k","errors":[…]}   (compile errors in the creation-time and the runtime environment)
//	{"id":7,"use":"k","request":{…AdmissionRequest…},"canonical":true}
//	  → {"id":7,"matches":false,"error":"","cost":123,"typed":true,"results":[{"name":…,"value":"false"}],"request":{…}}
//
// "matches" is whether the apiserver calls the webhook; "error" is set when it refuses the write
// instead (a condition error under failurePolicy Fail); "cost" is the CEL cost spent of the
// per-webhook budget. Objects of kinds this program knows (the built-in ones driftgate's tests
// use) are decoded into their Go types first, as the apiserver has them, so CEL sees them the
// way it does in a real cluster; "request" echoes the request with its objects as the apiserver
// would serialize them into the AdmissionReview, which is what driftgate itself receives.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apiserver/pkg/admission"
	celplugin "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
)

type line struct {
	Define    string                                     `json:"define,omitempty"`
	Webhook   *admissionregistrationv1.ValidatingWebhook `json:"webhook,omitempty"`
	ID        json.RawMessage                            `json:"id,omitempty"`
	Use       string                                     `json:"use,omitempty"`
	Request   json.RawMessage                            `json:"request,omitempty"`
	Canonical bool                                       `json:"canonical,omitempty"`
}

type conditionResult struct {
	Name  string `json:"name"`
	Value string `json:"value"` // "true", "false" or "error: …"
}

type answer struct {
	ID      json.RawMessage   `json:"id"`
	Matches bool              `json:"matches"`
	Error   string            `json:"error"`
	Cost    int64             `json:"cost"`
	Typed   bool              `json:"typed"`
	Results []conditionResult `json:"results"`
	Request json.RawMessage   `json:"request,omitempty"`
}

type compiled struct {
	matcher   matchconditions.Matcher
	evaluator celplugin.ConditionEvaluator
}

var scheme = runtime.NewScheme()

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv1.AddToScheme, batchv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
}

func main() {
	// The apiserver's own webhook dispatcher builds its compiler exactly like this (generic/webhook.go).
	runtimeCompiler := celplugin.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	defined := map[string]*compiled{}

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 0, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)

	for in.Scan() {
		var l line
		if err := json.Unmarshal(in.Bytes(), &l); err != nil {
			fail(enc, out, fmt.Sprintf("celcheck: unreadable line: %v", err))
			return
		}
		switch {
		case l.Define != "":
			if l.Webhook == nil {
				fail(enc, out, "celcheck: define without webhook")
				return
			}
			c, errs := compile(runtimeCompiler, l.Webhook)
			defined[l.Define] = c
			must(enc.Encode(map[string]any{"define": l.Define, "errors": errs}))
		case l.Use != "":
			c := defined[l.Use]
			if c == nil {
				fail(enc, out, fmt.Sprintf("celcheck: %q was never defined", l.Use))
				return
			}
			must(enc.Encode(evaluate(c, l)))
		default:
			fail(enc, out, "celcheck: a line needs define or use")
			return
		}
		must(out.Flush())
	}
	if err := in.Err(); err != nil {
		fail(enc, out, fmt.Sprintf("celcheck: reading stdin: %v", err))
	}
}

func compile(runtimeCompiler celplugin.ConditionCompiler, h *admissionregistrationv1.ValidatingWebhook) (*compiled, []string) {
	errs := []string{}
	if len(h.MatchConditions) > 64 {
		errs = append(errs, fmt.Sprintf("%d matchConditions: the apiserver accepts at most 64", len(h.MatchConditions)))
	}
	accessors := make([]celplugin.ExpressionAccessor, len(h.MatchConditions))
	for i, mc := range h.MatchConditions {
		accessors[i] = &matchconditions.MatchCondition{Name: mc.Name, Expression: mc.Expression}
	}
	options := celplugin.OptionalVariableDeclarations{HasParams: false, HasAuthorizer: true}
	// Creation-time validation compiles in the stricter NewExpressions environment: an expression
	// that only the runtime environment accepts would be refused by `kubectl apply`.
	creation := celplugin.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	for _, env := range []struct {
		name string
		eval celplugin.ConditionEvaluator
	}{
		{"creation", creation.CompileCondition(accessors, options, environment.NewExpressions)},
		{"runtime", runtimeCompiler.CompileCondition(accessors, options, environment.StoredExpressions)},
	} {
		for _, err := range env.eval.CompilationErrors() {
			errs = append(errs, fmt.Sprintf("%s: %v", env.name, err))
		}
	}
	// The matcher the dispatcher uses, from the accessor the dispatcher uses.
	accessor := webhook.NewValidatingWebhookAccessor("celcheck", "celcheck", h)
	return &compiled{
		matcher:   accessor.GetCompiledMatcher(runtimeCompiler),
		evaluator: runtimeCompiler.CompileCondition(accessors, options, environment.StoredExpressions),
	}, errs
}

func evaluate(c *compiled, l line) answer {
	a := answer{ID: l.ID, Results: []conditionResult{}}
	var req admissionv1.AdmissionRequest
	if err := json.Unmarshal(l.Request, &req); err != nil {
		a.Error = fmt.Sprintf("celcheck: request is not an AdmissionRequest: %v", err)
		return a
	}
	kind := schema.GroupVersionKind{Group: req.Kind.Group, Version: req.Kind.Version, Kind: req.Kind.Kind}
	obj, typed, err := decodeObject(req.Object.Raw, kind)
	if err != nil {
		a.Error = fmt.Sprintf("celcheck: object: %v", err)
		return a
	}
	old, oldTyped, err := decodeObject(req.OldObject.Raw, kind)
	if err != nil {
		a.Error = fmt.Sprintf("celcheck: oldObject: %v", err)
		return a
	}
	a.Typed = (obj == nil || typed) && (old == nil || oldTyped) && (obj != nil || old != nil)
	if !a.Typed {
		// Both sides the same way, as the apiserver has them: one Go type for the request's kind.
		obj, _ = decodeUnstructured(req.Object.Raw)
		old, _ = decodeUnstructured(req.OldObject.Raw)
	}

	var info user.Info
	extra := map[string][]string{}
	for k, v := range req.UserInfo.Extra {
		extra[k] = v
	}
	info = &user.DefaultInfo{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups, Extra: extra}
	dryRun := req.DryRun != nil && *req.DryRun
	resource := schema.GroupVersionResource{Group: req.Resource.Group, Version: req.Resource.Version, Resource: req.Resource.Resource}
	attrs := admission.NewAttributesRecord(obj, old, kind, req.Namespace, req.Name, resource, req.SubResource,
		admission.Operation(req.Operation), nil, dryRun, info)
	versioned := &admission.VersionedAttributes{
		Attributes:         attrs,
		VersionedObject:    admission.NewLazyObject(obj),
		VersionedOldObject: admission.NewLazyObject(old),
		VersionedKind:      kind,
	}

	result := c.matcher.Match(context.Background(), versioned, nil, nil)
	a.Matches = result.Matches
	if result.Error != nil {
		a.Error = result.Error.Error()
	}

	// The same evaluation once more through the evaluator, for what the matcher does not return:
	// each condition's value and the cost spent of the webhook's budget.
	again := &admission.VersionedAttributes{
		Attributes:         attrs,
		VersionedObject:    admission.NewLazyObject(obj),
		VersionedOldObject: admission.NewLazyObject(old),
		VersionedKind:      kind,
	}
	request := celplugin.CreateAdmissionRequest(attrs, req.Resource, req.Kind)
	evals, remaining, err := c.evaluator.ForInput(context.Background(), again, request, celplugin.OptionalVariableBindings{}, nil, celconfig.RuntimeCELCostBudgetMatchConditions)
	if err != nil {
		a.Results = append(a.Results, conditionResult{Name: "*", Value: "error: " + err.Error()})
	} else {
		a.Cost = celconfig.RuntimeCELCostBudgetMatchConditions - remaining
		for _, e := range evals {
			name := ""
			if mc, ok := e.ExpressionAccessor.(*matchconditions.MatchCondition); ok {
				name = mc.Name
			}
			value := ""
			switch {
			case e.Error != nil:
				value = "error: " + e.Error.Error()
			case e.EvalResult == nil:
				value = "error: no result"
			default:
				value = fmt.Sprint(e.EvalResult.Value())
			}
			a.Results = append(a.Results, conditionResult{Name: name, Value: value})
		}
	}

	if l.Canonical {
		a.Request = canonical(l.Request, obj, old)
	}
	return a
}

// decodeObject returns the object as the apiserver holds it: its Go type when this program knows
// the kind and the JSON decodes into it (typed=true), else unstructured, as for a custom resource.
func decodeObject(raw []byte, kind schema.GroupVersionKind) (runtime.Object, bool, error) {
	if isNull(raw) {
		return nil, false, nil
	}
	if into, err := scheme.New(kind); err == nil {
		if json.Unmarshal(raw, into) == nil {
			into.GetObjectKind().SetGroupVersionKind(kind)
			return into, true, nil
		}
	}
	u, err := decodeUnstructured(raw)
	return u, false, err
}

func decodeUnstructured(raw []byte) (runtime.Object, error) {
	if isNull(raw) {
		return nil, nil
	}
	var m map[string]any
	// The apiserver's decoder: integers stay int64, other numbers float64.
	if err := utiljson.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, nil
	}
	return &unstructured.Unstructured{Object: m}, nil
}

func isNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// canonical returns the request with object and oldObject as the apiserver would write them into
// the AdmissionReview: encoded from what it holds, so unknown fields of a typed kind are gone and
// quantities and times are in their canonical form.
func canonical(raw json.RawMessage, obj, old runtime.Object) json.RawMessage {
	var m map[string]json.RawMessage
	must(json.Unmarshal(raw, &m))
	for key, o := range map[string]runtime.Object{"object": obj, "oldObject": old} {
		if o == nil {
			if _, ok := m[key]; ok {
				m[key] = json.RawMessage("null")
			}
			continue
		}
		b, err := json.Marshal(o)
		must(err)
		m[key] = b
	}
	b, err := json.Marshal(m)
	must(err)
	return b
}

func fail(enc *json.Encoder, out *bufio.Writer, message string) {
	_ = enc.Encode(map[string]string{"fatal": message})
	_ = out.Flush()
	os.Exit(2)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
