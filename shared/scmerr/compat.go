package scmerr

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

type protoMessage = proto.Message

// toV1 adapts messages for status.WithDetails, which takes the v1 message type.
func toV1(ms []protoMessage) []protoadapt.MessageV1 {
	out := make([]protoadapt.MessageV1, len(ms))
	for i, m := range ms {
		out[i] = protoadapt.MessageV1Of(m)
	}
	return out
}
