// Command argocd-health prints the health Argo CD gives objects, with the resource
// customizations of an argocd-cm ConfigMap.
//
//	argocd-health ARGOCD_CM [FILE...]
//
// ARGOCD_CM is a ConfigMap (YAML or JSON) such as argocd-cm after our patch; each FILE
// (standard input when none) holds objects as YAML documents or JSON, the items of a
// List one by one. For each object it prints one JSON line: {"apiVersion", "kind",
// "name", "status", "message"}.
//
// It runs Argo CD's own code end to end: its settings manager reads the
// resource.customizations.* keys from the ConfigMap (served by a fake clientset), and
// gitops-engine's GetResourceHealth runs the Lua health script in Argo CD's Lua VM
// (gopher-lua with Argo CD's sandbox), exactly as the application controller does.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/argoproj/argo-cd/v2/util/lua"
	"github.com/argoproj/argo-cd/v2/util/settings"
	"github.com/argoproj/gitops-engine/pkg/health"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/fake"
)

type verdict struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Message    string `json:"message"`
}

func main() {
	// The settings manager logs its informers starting; only problems matter here.
	log.SetLevel(log.WarnLevel)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd-health ARGOCD_CM [FILE...]")
		os.Exit(2)
	}
	overrides, err := resourceOverrides(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "argocd-health: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	inputs := os.Args[2:]
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	out := json.NewEncoder(os.Stdout)
	for _, input := range inputs {
		if err := judge(input, overrides, out); err != nil {
			fmt.Fprintf(os.Stderr, "argocd-health: %s: %v\n", input, err)
			os.Exit(1)
		}
	}
}

// resourceOverrides reads the customizations as Argo CD does: from the argocd-cm
// ConfigMap of its namespace, through its settings manager.
func resourceOverrides(path string) (lua.ResourceHealthOverrides, error) {
	documents, err := read(path)
	if err != nil {
		return nil, err
	}
	if len(documents) != 1 {
		return nil, fmt.Errorf("want one ConfigMap, found %d objects", len(documents))
	}
	var configMap corev1.ConfigMap
	if err := runtimeConvert(documents[0].Object, &configMap); err != nil {
		return nil, err
	}
	if configMap.Name != "argocd-cm" {
		return nil, fmt.Errorf("want the ConfigMap argocd-cm, found %q", configMap.Name)
	}
	if configMap.Namespace == "" {
		configMap.Namespace = "argocd"
	}
	client := fake.NewSimpleClientset(&configMap)
	manager := settings.NewSettingsManager(context.Background(), client, configMap.Namespace)
	overrides, err := manager.GetResourceOverrides()
	if err != nil {
		return nil, err
	}
	return lua.ResourceHealthOverrides(overrides), nil
}

func runtimeConvert(object map[string]any, into any) error {
	encoded, err := json.Marshal(object)
	if err != nil {
		return err
	}
	return json.Unmarshal(encoded, into)
}

func judge(input string, overrides lua.ResourceHealthOverrides, out *json.Encoder) error {
	objects, err := read(input)
	if err != nil {
		return err
	}
	for i := range objects {
		object := &objects[i]
		result, err := health.GetResourceHealth(object, overrides)
		if err != nil {
			return fmt.Errorf("%s %s: %w", object.GetKind(), object.GetName(), err)
		}
		found := verdict{
			APIVersion: object.GetAPIVersion(),
			Kind:       object.GetKind(),
			Name:       object.GetName(),
		}
		// No health at all: Argo CD has no check for the kind (it then ignores the object
		// when it rolls up the application's health).
		if result != nil {
			found.Status, found.Message = string(result.Status), result.Message
		}
		if err := out.Encode(found); err != nil {
			return err
		}
	}
	return nil
}

// read returns the objects of a YAML or JSON stream ("-": standard input), Lists expanded.
func read(input string) ([]unstructured.Unstructured, error) {
	var reader io.Reader = os.Stdin
	if input != "-" {
		file, err := os.Open(input)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		reader = file
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(reader, 4096)
	var objects []unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, err
		}
		// Kubernetes' own JSON reading: whole numbers become int64, as in Argo CD's cache.
		var document map[string]any
		if err := utiljson.Unmarshal(raw, &document); err != nil {
			return nil, err
		}
		if document == nil {
			continue
		}
		object := unstructured.Unstructured{Object: document}
		if !object.IsList() {
			objects = append(objects, object)
			continue
		}
		list, err := object.ToList()
		if err != nil {
			return nil, err
		}
		objects = append(objects, list.Items...)
	}
}
