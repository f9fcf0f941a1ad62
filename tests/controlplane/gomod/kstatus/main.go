// Command kstatus prints the status that kstatus computes for objects: the library of
// sigs.k8s.io/cli-utils behind kstatus-based waiters, and the copy in Flux's fork
// (github.com/fluxcd/cli-utils) that kustomize-controller's health checks run.
//
//	kstatus [FILE...]
//
// Each FILE (standard input when none) holds objects as YAML documents or JSON; the
// items of a List count one by one. For each object it prints one JSON line:
// {"apiVersion", "kind", "name", "status", "message", "flux", "fluxMessage"}, statuses
// being InProgress, Failed, Current, Terminating, NotFound or Unknown ("flux*": the
// fork's verdict). The tests feed it objects read from the API server, so what they
// check is kstatus' own verdict, not a copy of its rules.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	fluxstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	APIVersion  string `json:"apiVersion"`
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Message     string `json:"message"`
	Flux        string `json:"flux"`
	FluxMessage string `json:"fluxMessage"`
}

func main() {
	inputs := os.Args[1:]
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	out := json.NewEncoder(os.Stdout)
	for _, input := range inputs {
		if err := judge(input, out); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %s: %v\n", input, err)
			os.Exit(1)
		}
	}
}

func judge(input string, out *json.Encoder) error {
	var reader io.Reader = os.Stdin
	if input != "-" {
		file, err := os.Open(input)
		if err != nil {
			return err
		}
		defer file.Close()
		reader = file
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(reader, 4096)
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		// Kubernetes' own JSON reading: whole numbers become int64, as kstatus expects of
		// metadata.generation and status.observedGeneration.
		var document map[string]any
		if err := utiljson.Unmarshal(raw, &document); err != nil {
			return err
		}
		if document == nil {
			continue // an empty YAML document
		}
		object := &unstructured.Unstructured{Object: document}
		objects := []unstructured.Unstructured{*object}
		if object.IsList() {
			list, err := object.ToList()
			if err != nil {
				return err
			}
			objects = list.Items
		}
		for i := range objects {
			result, err := status.Compute(&objects[i])
			if err != nil {
				return fmt.Errorf("%s %s: %w", objects[i].GetKind(), objects[i].GetName(), err)
			}
			flux, err := fluxstatus.Compute(&objects[i])
			if err != nil {
				return fmt.Errorf("%s %s: flux: %w", objects[i].GetKind(), objects[i].GetName(), err)
			}
			if err := out.Encode(verdict{
				APIVersion:  objects[i].GetAPIVersion(),
				Kind:        objects[i].GetKind(),
				Name:        objects[i].GetName(),
				Status:      result.Status.String(),
				Message:     result.Message,
				Flux:        flux.Status.String(),
				FluxMessage: flux.Message,
			}); err != nil {
				return err
			}
		}
	}
}
